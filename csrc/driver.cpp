// Drives the row functions over whole images: padding, the two-row cache of
// horizontal passes, strided sources, threads, and the perspective warp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>


#include "kernel.hpp"
#include "thread_pool.hpp"

namespace ev {
namespace {

size_t esize(DType dt) { return dt == DType::F32 ? 4 : (dt == DType::F16 ? 2 : 1); }

// Pad values converted once to the output dtype.
struct PadValues {
    float f32[4];
    uint16_t f16[4];
    uint8_t u8[4];
    explicit PadValues(const OutSpec& s) {
        for (int c = 0; c < 4; ++c) {
            f32[c] = s.pad[c];
            f16[c] = float_to_half(s.pad[c]);
            float r = std::nearbyint(s.pad[c]);
            u8[c] = uint8_t(r < 0.f ? 0.f : (r > 255.f ? 255.f : r));
        }
    }
};

template <typename T>
void fill_typed(T* row, ptrdiff_t plane, int xa, int xb, const OutSpec& s, const T* v) {
    if (xb <= xa) return;
    if (s.nhwc) {
        // One pixel, then the filled part copied onto the rest, doubling (memcpy's speed, any C).
        T* p = row + ptrdiff_t(xa) * s.C;
        const size_t n = size_t(xb - xa) * size_t(s.C);
        for (int c = 0; c < s.C; ++c) p[c] = v[c];
        for (size_t done = size_t(s.C); done < n;) {
            const size_t k = std::min(done, n - done);
            std::memcpy(p + done, p, k * sizeof(T));
            done += k;
        }
    } else {
        for (int c = 0; c < s.C; ++c) std::fill_n(row + c * plane + xa, xb - xa, v[c]);
    }
}

// Output pixels [xa, xb) of one row get the pad value.
void fill_pad(void* row, ptrdiff_t plane, int xa, int xb, const OutSpec& s, const PadValues& pv) {
    switch (s.dtype) {
        case DType::F32: fill_typed(static_cast<float*>(row), plane, xa, xb, s, pv.f32); break;
        case DType::F16: fill_typed(static_cast<uint16_t*>(row), plane, xa, xb, s, pv.f16); break;
        case DType::U8: fill_typed(static_cast<uint8_t*>(row), plane, xa, xb, s, pv.u8); break;
    }
}

// Pointer to the start of output row y (plane 0 for NCHW).
void* row_ptr(void* out, int y, const OutSpec& s) {
    const ptrdiff_t elems = s.nhwc ? ptrdiff_t(y) * s.W * s.C : ptrdiff_t(y) * s.W;
    return static_cast<char*>(out) + elems * ptrdiff_t(esize(s.dtype));
}

// Copies source row y of a strided image into a packed buffer (w*cn bytes + zeroed slack).
void gather_row(const SrcImage& src, int y, uint8_t* dst) {
    const uint8_t* p = src.data + ptrdiff_t(y) * src.rs;
    for (int x = 0; x < src.w; ++x)
        for (int c = 0; c < src.cn; ++c) dst[x * src.cn + c] = p[ptrdiff_t(x) * src.ps + ptrdiff_t(c) * src.cs];
}

constexpr int kSlack = 16;  // bytes / elements of slack after every scratch row

// Waking a worker costs about as much as 10-20 us of kernel work, so small
// outputs use fewer threads: one per kPixelsPerThread output pixels (~50 us).
constexpr int64_t kPixelsPerThread = 64 * 1024;

int cap_threads(int requested, int64_t out_pixels) {
    const int64_t by_work = std::max<int64_t>(1, out_pixels / kPixelsPerThread);
    return int(std::max<int64_t>(1, std::min<int64_t>({int64_t(requested), int64_t(hardware_threads()), by_work})));
}

struct PreparedJob {
    const ResizeJob* job;
    HTable ht;
    VTable vt;
};

void resize_rows(const PreparedJob& pj, const OutSpec& s, const RowFns& fn, int r0, int r1) {
    const ResizeJob& job = *pj.job;
    const SrcImage& src = job.src;
    const Placement& pl = job.place;
    const PadValues pv(s);
    const ptrdiff_t plane = ptrdiff_t(s.H) * s.W;
    const int n = pl.cw * s.L;

    std::vector<int16_t> buf(size_t(3) * (n + kSlack), 0);
    int16_t* hrow[2] = {buf.data(), buf.data() + n + kSlack};
    int16_t* R = buf.data() + 2 * (n + kSlack);
    int cached[2] = {-1, -1};
    std::vector<uint8_t> scratch;
    if (!src.packed_row()) scratch.assign(size_t(src.w) * src.cn + kSlack, 0);

    // Source row sy as a packed row: in place, or gathered into scratch (valid until the next call).
    auto source_row = [&](int sy) -> const uint8_t* {
        if (scratch.empty()) return src.data + ptrdiff_t(sy) * src.rs;
        gather_row(src, sy, scratch.data());
        return scratch.data();
    };
    auto fetch = [&](int sy, int keep) -> const int16_t* {
        for (int k = 0; k < 2; ++k)
            if (cached[k] == sy) return hrow[k];
        const int k = cached[0] == keep ? 1 : 0;
        fn.hpass(source_row(sy), pj.ht, s.lane_src, s.L, hrow[k], 0, pl.cw);
        cached[k] = sy;
        return hrow[k];
    };

    for (int y = r0; y < r1; ++y) {
        void* drow = row_ptr(job.out, y, s);
        const int cy = y - pl.y0;
        if (cy < 0 || cy >= pl.ch) {
            fill_pad(drow, plane, 0, s.W, s, pv);
            continue;
        }
        const int ya = pj.vt.y0[cy], yb = pj.vt.y1[cy];
        if (pj.ht.point && pj.vt.b0[cy] == kCoefScale && pj.vt.b1[cy] == 0) {
            // Point sample in both directions: copy the pixels, no blending.
            fn.point(source_row(ya), pj.ht, s.lane_src, s.L, R, 0, pl.cw);
        } else {
            if (ya != yb && cached[0] != ya && cached[1] != ya && cached[0] != yb && cached[1] != yb) {
                // Both rows are new (typical when downscaling): one pass over the tap table.
                if (scratch.empty()) {
                    fn.hpass2(source_row(ya), source_row(yb), pj.ht, s.lane_src, s.L, hrow[0], hrow[1], 0, pl.cw);
                } else {  // one scratch row: gather and pass them one at a time
                    fn.hpass(source_row(ya), pj.ht, s.lane_src, s.L, hrow[0], 0, pl.cw);
                    fn.hpass(source_row(yb), pj.ht, s.lane_src, s.L, hrow[1], 0, pl.cw);
                }
                cached[0] = ya;
                cached[1] = yb;
            }
            const int16_t* h0 = fetch(ya, -1);
            const int16_t* h1 = fetch(yb, ya);
            fn.vpass(h0, h1, pj.vt.b0[cy], pj.vt.b1[cy], R, n);
        }
        fill_pad(drow, plane, 0, pl.x0, s, pv);
        fn.store(R, pl.cw, s, drow, plane, pl.x0);
        fill_pad(drow, plane, pl.x0 + pl.cw, s.W, s, pv);
    }
}

}  // namespace

void run_resize(const std::vector<ResizeJob>& jobs, const OutSpec& spec, Interp interp, int threads) {
    if (jobs.empty()) return;
    const RowFns& fn = row_fns(active_simd());
    std::vector<PreparedJob> prepared;
    prepared.reserve(jobs.size());
    for (const ResizeJob& j : jobs) {
        const ptrdiff_t row_bytes = j.src.packed_row() ? ptrdiff_t(j.src.w) * j.src.cn
                                                       : ptrdiff_t(j.src.w) * j.src.cn + kSlack;
        prepared.push_back({&j, make_htable(j.src.w, j.place.cw, j.src.cn, interp, row_bytes),
                            make_vtable(j.src.h, j.place.ch, interp)});
    }
    const int njobs = int(jobs.size());
    threads = cap_threads(threads, int64_t(spec.H) * spec.W * njobs);
    // Enough chunks to keep every thread busy; contiguous rows keep the row cache warm.
    const int per_job = std::max(1, std::min(spec.H, (threads + njobs - 1) / njobs));
    parallel_for(njobs * per_job, threads, [&](int task) {
        const int j = task / per_job, k = task % per_job;
        const int r0 = int(int64_t(spec.H) * k / per_job), r1 = int(int64_t(spec.H) * (k + 1) / per_job);
        resize_rows(prepared[j], spec, fn, r0, r1);
    });
}

// ---- perspective warp -----------------------------------------------------

namespace {

void warp_rows(const SrcImage& src, const double* M, void* out, const OutSpec& s, const RowFns& fn, int r0,
               int r1) {
    const PadValues pv(s);
    const ptrdiff_t plane = ptrdiff_t(s.H) * s.W;
    std::vector<int16_t> R(size_t(s.W) * s.L + kSlack, 0);
    std::vector<uint8_t> outside(s.W);
    for (int y = r0; y < r1; ++y) {
        fn.warp(src, M, y, s, R.data(), outside.data(), 0, s.W);
        void* drow = row_ptr(out, y, s);
        fn.store(R.data(), s.W, s, drow, plane, 0);
        // Pixels that sample nothing of the image get the exact (fractional) pad value.
        for (int x = 0; x < s.W;) {
            if (!outside[x]) {
                ++x;
                continue;
            }
            int e = x;
            while (e < s.W && outside[e]) ++e;
            fill_pad(drow, plane, x, e, s, pv);
            x = e;
        }
    }
}

}  // namespace

void run_warp(const SrcImage& src, const double M[9], void* out, const OutSpec& spec, int threads) {
    const RowFns& fn = row_fns(active_simd());
    threads = cap_threads(threads, int64_t(spec.H) * spec.W);
    const int chunks = std::min(threads, spec.H);
    parallel_for(chunks, threads, [&](int k) {
        const int r0 = int(int64_t(spec.H) * k / chunks), r1 = int(int64_t(spec.H) * (k + 1) / chunks);
        warp_rows(src, M, out, spec, fn, r0, r1);
    });
}

}  // namespace ev
