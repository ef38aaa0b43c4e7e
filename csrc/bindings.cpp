// pybind11 bindings: the private edgevision._core module. The public, documented
// API is edgevision.preprocess; it validates options and computes geometry, and
// this layer re-checks every buffer so that no call can crash the process.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <thread>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "ctc_beam.hpp"
#include "nms.hpp"
#include "kernel.hpp"
#include "thread_pool.hpp"

namespace py = pybind11;
using namespace ev;

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

// Runs fn without the GIL. Unlike py::gil_scoped_release, the GIL is retaken
// outside a destructor: if the interpreter is shutting down meanwhile (a
// daemon thread inside the kernel at exit), CPython ends this thread while it
// retakes the GIL, and that must not happen inside a noexcept destructor
// (std::terminate). If finalization has already begun we never retake it: the
// thread parks until the process exits, as CPython 3.14 does itself.
template <typename F>
void without_gil(F&& fn) {
    PyThreadState* state = PyEval_SaveThread();
    try {
        fn();
    } catch (...) {
        PyEval_RestoreThread(state);
        throw;
    }
    while (finalizing()) std::this_thread::sleep_for(std::chrono::seconds(1));
    PyEval_RestoreThread(state);
}

SrcImage as_image(const py::handle& obj, const std::string& name) {
    if (!py::isinstance<py::array>(obj)) throw py::type_error(name + ": expected a numpy.ndarray");
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (arr.dtype().kind() != 'u' || arr.dtype().itemsize() != 1)
        throw py::type_error(name + ": expected dtype uint8, got " + std::string(py::str(arr.dtype())));
    if (arr.ndim() != 2 && arr.ndim() != 3)
        fail(name + ": expected a HxW or HxWxC image, got " + std::to_string(arr.ndim()) + " dimensions");
    SrcImage s;
    s.h = int(std::min<py::ssize_t>(arr.shape(0), INT32_MAX));
    s.w = int(std::min<py::ssize_t>(arr.shape(1), INT32_MAX));
    s.cn = arr.ndim() == 3 ? int(arr.shape(2)) : 1;
    if (arr.shape(0) < 1 || arr.shape(1) < 1) fail(name + ": image is empty");
    if (arr.shape(0) > kMaxSide || arr.shape(1) > kMaxSide)
        fail(name + ": image sides must be at most " + std::to_string(kMaxSide) + " pixels");
    if (s.cn != 1 && s.cn != 3 && s.cn != 4)
        fail(name + ": expected 1, 3 or 4 channels, got " + std::to_string(arr.ndim() == 3 ? arr.shape(2) : 1));
    s.data = static_cast<const uint8_t*>(arr.data());
    s.rs = arr.strides(0);
    s.ps = arr.strides(1);
    s.cs = arr.ndim() == 3 ? arr.strides(2) : 1;
    return s;
}

DType out_dtype(const py::array& out) {
    const char k = out.dtype().kind();
    const auto n = out.dtype().itemsize();
    if (k == 'f' && n == 4) return DType::F32;
    if (k == 'f' && n == 2) return DType::F16;
    if (k == 'u' && n == 1) return DType::U8;
    throw py::type_error("out: expected dtype float32, float16 or uint8, got " + std::string(py::str(out.dtype())));
}

OutSpec make_spec(const py::array& out, bool nhwc, int channels, const std::array<int, 4>& lane_src,
                  const std::array<float, 4>& a, const std::array<float, 4>& b, const std::array<float, 4>& pad,
                  const std::array<int, 4>& pad_u8, py::ssize_t n_images) {
    if (out.ndim() != 4) fail("out: expected a 4-d array (N, C, H, W) or (N, H, W, C)");
    if (!(out.flags() & py::array::c_style)) fail("out: must be C-contiguous");
    if (!out.writeable()) fail("out: must be writeable");
    if (channels != 1 && channels != 3 && channels != 4) fail("channels: expected 1, 3 or 4");
    OutSpec s;
    s.dtype = out_dtype(out);
    s.nhwc = nhwc;
    s.C = channels;
    s.L = channels == 1 ? 1 : 4;
    const py::ssize_t N = out.shape(0);
    const py::ssize_t C = nhwc ? out.shape(3) : out.shape(1);
    const py::ssize_t H = nhwc ? out.shape(1) : out.shape(2);
    const py::ssize_t W = nhwc ? out.shape(2) : out.shape(3);
    if (N != n_images) fail("out: batch dimension is " + std::to_string(N) + ", expected " + std::to_string(n_images));
    if (C != channels) fail("out: channel dimension is " + std::to_string(C) + ", expected " + std::to_string(channels));
    if (H < 1 || W < 1 || H > kMaxSide || W > kMaxSide) fail("out: height and width must be in [1, 32768]");
    s.H = int(H);
    s.W = int(W);
    for (int c = 0; c < 4; ++c) {
        if (lane_src[c] < -1 || lane_src[c] > 3) fail("lane_src: entries must be in [-1, 3]");
        s.lane_src[c] = int8_t(c < channels ? lane_src[c] : -1);
        s.a[c] = a[c];
        s.b[c] = b[c];
        s.pad[c] = pad[c];
        s.pad_u8[c] = uint8_t(std::min(255, std::max(0, pad_u8[c])));
    }
    if (channels == 1) s.lane_src[0] = int8_t(lane_src[0]);
    s.u8_copy = s.dtype == DType::U8;
    for (int c = 0; c < s.C; ++c)
        s.u8_copy = s.u8_copy && s.b[c] == 0.f && (s.a[c] == 1.f || s.lane_src[c] < 0);
    return s;
}

void check_lanes(const OutSpec& s, const SrcImage& img, const std::string& name) {
    for (int c = 0; c < s.C; ++c)
        if (s.lane_src[c] >= img.cn)
            fail(name + ": has " + std::to_string(img.cn) + " channels but output channel " + std::to_string(c) +
                 " reads channel " + std::to_string(int(s.lane_src[c])));
}

void resize(const py::list& images, const std::vector<std::array<int, 4>>& placements, py::array out, bool nhwc,
            int channels, std::array<int, 4> lane_src, std::array<float, 4> a, std::array<float, 4> b,
            std::array<float, 4> pad, const std::string& interpolation, int threads) {
    const py::ssize_t n = py::len(images);
    if (n < 1) fail("images: expected at least one image");
    if (py::ssize_t(placements.size()) != n) fail("placements: expected one per image");
    Interp interp;
    if (interpolation == "bilinear") interp = Interp::Bilinear;
    else if (interpolation == "nearest") interp = Interp::Nearest;
    else fail("interpolation: expected 'bilinear' or 'nearest', got '" + interpolation + "'");
    const OutSpec spec = make_spec(out, nhwc, channels, lane_src, a, b, pad, {0, 0, 0, 0}, n);
    std::vector<ResizeJob> jobs(static_cast<size_t>(n));
    const size_t stride = size_t(out.strides(0));
    for (py::ssize_t i = 0; i < n; ++i) {
        const std::string name = n == 1 ? "image" : "images[" + std::to_string(i) + "]";
        jobs[i].src = as_image(images[size_t(i)], name);
        check_lanes(spec, jobs[i].src, name);
        const auto& p = placements[size_t(i)];
        if (p[2] < 1 || p[3] < 1 || p[0] < 0 || p[1] < 0 || int64_t(p[0]) + p[2] > spec.W ||
            int64_t(p[1]) + p[3] > spec.H)
            fail(name + ": content rectangle does not fit the output");
        jobs[i].place = {p[0], p[1], p[2], p[3]};
        jobs[i].out = static_cast<char*>(out.mutable_data()) + stride * size_t(i);
    }
    without_gil([&] { run_resize(jobs, spec, interp, threads < 1 ? 1 : threads); });
}

void warp(const py::handle& image, std::array<double, 9> M, py::array out, bool nhwc, int channels,
          std::array<int, 4> lane_src, std::array<float, 4> a, std::array<float, 4> b, std::array<float, 4> pad,
          std::array<int, 4> pad_u8, int threads) {
    const OutSpec spec = make_spec(out, nhwc, channels, lane_src, a, b, pad, pad_u8, 1);
    const SrcImage src = as_image(image, "image");
    check_lanes(spec, src, "image");
    for (double m : M)
        if (!std::isfinite(m)) fail("quad: the perspective transform is not finite");
    without_gil([&] { run_warp(src, M.data(), out.mutable_data(), spec, threads < 1 ? 1 : threads); });
}

// The (T, C) log-probabilities the CTC functions take, and their blank: the shape checked (2 dimensions,
// C >= 1, the blank a class); check_values then rules out NaN and +inf (-inf is a probability of 0).
struct LogProbs {
    const double* data;
    int64_t T, C;
};

LogProbs logp_shape(const py::array_t<double, py::array::c_style | py::array::forcecast>& logp, int64_t blank) {
    if (logp.ndim() != 2) fail("logp: expected a (T, C) array of log-probabilities, got " + std::to_string(logp.ndim()) +
                               " dimensions");
    const int64_t T = logp.shape(0), C = logp.shape(1);
    if (C < 1) fail("logp: expected at least one class (C >= 1)");
    if (blank < 0 || blank >= C) fail("blank: expected a class index in [0, " + std::to_string(C - 1) + "]");
    return {logp.data(), T, C};
}

void check_values(const LogProbs& lp) {
    for (int64_t i = 0; i < lp.T * lp.C; ++i)
        if (std::isnan(lp.data[i]) || lp.data[i] == std::numeric_limits<double>::infinity())
            fail("logp: expected log-probabilities (finite or -inf), got NaN or +inf");
}

py::list ctc_beam_search(const py::array_t<double, py::array::c_style | py::array::forcecast>& logp, int64_t blank,
                         int64_t width, double prune) {
    const LogProbs lp = logp_shape(logp, blank);
    if (width < 1) fail("width: expected an int >= 1");
    if (std::isnan(prune)) fail("prune: expected a log-probability, got NaN");
    check_values(lp);
    std::vector<Reading> found;
    without_gil([&] { found = ctc_beam(lp.data, lp.T, lp.C, blank, width, prune); });
    py::list out;
    for (const auto& r : found) {
        py::tuple labels(r.first.size());
        for (size_t k = 0; k < r.first.size(); ++k) labels[k] = py::int_(r.first[k]);
        out.append(py::make_tuple(labels, r.second));
    }
    return out;
}

py::list ctc_align_path(const py::array_t<double, py::array::c_style | py::array::forcecast>& logp,
                        const std::vector<int32_t>& labels, int64_t blank) {
    const LogProbs lp = logp_shape(logp, blank);
    for (int32_t c : labels)
        if (c < 0 || c >= lp.C || c == blank) fail("labels: expected classes in [0, C) other than the blank");
    check_values(lp);
    const auto steps = ctc_align(lp.data, lp.T, lp.C, labels.data(), int64_t(labels.size()), blank);
    py::list out;
    for (const auto& tc : steps) out.append(py::make_tuple(tc.first, tc.second));
    return out;
}

py::array_t<int64_t> nms(const py::array_t<double, py::array::c_style | py::array::forcecast>& boxes,
                         const py::array_t<double, py::array::c_style | py::array::forcecast>& areas, double t,
                         int64_t limit) {
    if (boxes.ndim() != 2 || boxes.shape(1) != 4) fail("boxes: expected an (n, 4) array of x1, y1, x2, y2");
    const int64_t n = boxes.shape(0);
    if (areas.ndim() != 1 || areas.shape(0) != n) fail("areas: expected one area per box, shape (n,)");
    if (!(t >= 0.0 && t <= 1.0)) fail("iou_threshold: expected a number in [0, 1]");
    if (limit < 1) fail("max_det: expected a positive int");
    const std::vector<int64_t> kept = nms_sorted(boxes.data(), areas.data(), n, t, limit);
    py::array_t<int64_t> out(static_cast<py::ssize_t>(kept.size()));
    std::copy(kept.begin(), kept.end(), out.mutable_data());
    return out;
}

std::string simd_level() { return simd_name(active_simd()); }

std::string set_simd_level(const std::string& name) {
    Simd level;
    if (!parse_simd(name, &level)) fail("simd: expected one of scalar, sse41, avx2, neon; got '" + name + "'");
    const std::string prev = simd_name(active_simd());
    set_simd(level);
    return prev;
}

std::vector<std::string> supported() {
    std::vector<std::string> out;
    for (Simd s : supported_simd()) out.push_back(simd_name(s));
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "edgevision compiled preprocessing kernel (private; use edgevision.preprocess)";
    m.def("resize", &resize, py::arg("images"), py::arg("placements"), py::arg("out"), py::arg("nhwc"),
          py::arg("channels"), py::arg("lane_src"), py::arg("a"), py::arg("b"), py::arg("pad"),
          py::arg("interpolation"), py::arg("threads"));
    m.def("warp", &warp, py::arg("image"), py::arg("matrix"), py::arg("out"), py::arg("nhwc"), py::arg("channels"),
          py::arg("lane_src"), py::arg("a"), py::arg("b"), py::arg("pad"), py::arg("pad_u8"), py::arg("threads"));
    m.def("ctc_beam", &ctc_beam_search, py::arg("logp"), py::arg("blank"), py::arg("width"), py::arg("prune"),
          "CTC prefix beam search (edgevision.decoders._ctc_beam): [(classes, log-probability)], best first");
    m.def("ctc_align", &ctc_align_path, py::arg("logp"), py::arg("labels"), py::arg("blank"),
          "Viterbi alignment of labels (edgevision.decoders._ctc_align): [(step, class)] of each label run");
    m.def("nms", &nms, py::arg("boxes"), py::arg("areas"), py::arg("iou_threshold"), py::arg("max_det"),
          "greedy NMS of boxes in visiting order (edgevision.decoders._greedy_nms): the kept positions");
    m.def("simd_level", &simd_level);
    m.def("set_simd_level", &set_simd_level, py::arg("name"));
    m.def("supported_simd", &supported);
    m.def("hardware_threads", &hardware_threads);
    m.attr("MAX_SIDE") = kMaxSide;
    m.attr("ABI_VERSION") = 1;
}
