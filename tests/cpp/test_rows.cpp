// Standalone bit-exactness test of the SIMD row functions (no Python).
//
// For every SIMD level this build and CPU support (SSE4.1 / AVX2 on x86, NEON
// on AArch64) the row functions and the whole resize / warp drivers are
// compared byte for byte against the scalar reference (rows_scalar.cpp) over
// many random cases. Sources live at the very end of a readable mapping with
// an inaccessible guard page behind them, so a SIMD load beyond what
// HTable::simd_safe allows crashes instead of passing silently; outputs carry
// a sentinel margin, so writes beyond the requested pixels are caught too.
//
// Build: scripts/check_cpp.sh (x86 natively, AArch64 under qemu-aarch64).
// Usage: test_rows [--seed N] [--quick] [--edge] [--verbose]
//   --edge  also compare on edge values outside the pipeline's normal domain
//           (inf/NaN/huge affine parameters, vpass at the edges of its domain)
// Last line of output: "N passed, M failed"; the exit status is 1 on any failure.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel.hpp"

using namespace ev;

namespace {

// ---- bookkeeping ------------------------------------------------------------

long g_pass = 0, g_fail = 0;
int g_printed = 0;
bool g_verbose = false;
constexpr int kMaxPrinted = 40;
const char* g_where = "start-up";  // group being run, for the fatal-signal report
const char* g_level = "";
long g_point_tables = 0;  // point-sample tables met by the hpass cases

// A SIMD access beyond a row hits a guard page: report it as a failure, keep the summary format.
extern "C" void on_fatal_signal(int sig) {
    char buf[256];
    const int n = std::snprintf(buf, sizeof buf,
                                "FAIL fatal signal %d in %s/%s (out-of-bounds access?)\n%ld passed, %ld failed\n", sig,
                                g_where, g_level, g_pass, g_fail + 1);
    if (n > 0) {
        ssize_t w = write(1, buf, size_t(n) < sizeof buf ? size_t(n) : sizeof buf - 1);
        (void)w;
    }
    _exit(1);
}

void record(bool ok, const std::string& what) {
    if (ok) {
        ++g_pass;
        if (g_verbose) std::printf("ok   %s\n", what.c_str());
        return;
    }
    ++g_fail;
    if (g_printed < kMaxPrinted || g_verbose) {  // --verbose shows every failure
        std::printf("FAIL %s\n", what.c_str());
        ++g_printed;
    } else if (g_printed == kMaxPrinted) {
        std::printf("(further failures not shown)\n");
        ++g_printed;
    }
    std::fflush(stdout);
}

struct Group {
    std::string name;
    long pass0, fail0;
    explicit Group(std::string n) : name(std::move(n)), pass0(g_pass), fail0(g_fail) { g_where = name.c_str(); }
    ~Group() {
        g_where = "between groups";
        std::printf("  %-28s %6ld passed, %ld failed\n", name.c_str(), g_pass - pass0, g_fail - fail0);
    }
};

// ---- deterministic random numbers -----------------------------------------

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    int uni(int lo, int hi) { return lo + int(next() % uint64_t(int64_t(hi) - lo + 1)); }  // inclusive
    double unif() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }         // [0, 1)
    double unif(double lo, double hi) { return lo + (hi - lo) * unif(); }
    bool coin(double p = 0.5) { return unif() < p; }
    template <typename T>
    const T& pick(const std::vector<T>& v) { return v[size_t(uni(0, int(v.size()) - 1))]; }
};

// ---- memory with a guard page ---------------------------------------------

// `size` bytes that end exactly at an inaccessible page: reading past the end faults.
class Guarded {
public:
    explicit Guarded(size_t size) : size_(size) {
        const size_t pg = size_t(sysconf(_SC_PAGESIZE));
        const size_t body = (size + pg - 1) / pg * pg;
        total_ = body + pg;
        void* m = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) throw std::runtime_error("mmap failed");
        base_ = static_cast<uint8_t*>(m);
        if (mprotect(base_ + body, pg, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
        data_ = base_ + body - size;
    }
    ~Guarded() { munmap(base_, total_); }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;
    uint8_t* data() { return data_; }
    size_t size() const { return size_; }

private:
    size_t size_, total_;
    uint8_t* base_;
    uint8_t* data_;
};

// Byte buffer whose start is 64-byte aligned (so aligned store paths get exercised).
class Aligned {
public:
    Aligned(size_t n, uint8_t fill) : raw_(n + 64, fill), n_(n) {
        const uintptr_t p = reinterpret_cast<uintptr_t>(raw_.data());
        p_ = raw_.data() + ((64 - p % 64) % 64);
    }
    uint8_t* data() { return p_; }
    size_t size() const { return n_; }

private:
    std::vector<uint8_t> raw_;
    uint8_t* p_;
    size_t n_;
};

void fill_random(Rng& r, uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = uint8_t(r.next());
}

// ---- formatting -------------------------------------------------------------

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

const char* dtype_name(DType d) { return d == DType::F32 ? "f32" : (d == DType::F16 ? "f16" : "u8"); }
size_t esize(DType d) { return d == DType::F32 ? 4 : (d == DType::F16 ? 2 : 1); }

std::string lanes_str(const int8_t* l, int L) {
    std::string s = "{";
    for (int i = 0; i < L; ++i) s += (i ? "," : "") + std::to_string(int(l[i]));
    return s + "}";
}

std::string spec_str(const OutSpec& s) {
    return fmt("%s %s C=%d L=%d lanes=%s a={%.9g,%.9g,%.9g,%.9g} b={%.9g,%.9g,%.9g,%.9g}", dtype_name(s.dtype),
               s.nhwc ? "NHWC" : "NCHW", s.C, s.L, lanes_str(s.lane_src, 4).c_str(), s.a[0], s.a[1], s.a[2], s.a[3],
               s.b[0], s.b[1], s.b[2], s.b[3]);
}

// Byte comparison; on mismatch describes the first differing element of size `es`.
bool same_bytes(const void* got, const void* want, size_t n, size_t es, std::string* why) {
    const uint8_t* g = static_cast<const uint8_t*>(got);
    const uint8_t* w = static_cast<const uint8_t*>(want);
    if (std::memcmp(g, w, n) == 0) return true;
    size_t i = 0;
    while (g[i] == w[i]) ++i;
    const size_t e = i / es;
    size_t count = 0;
    for (size_t k = 0; k + es <= n; k += es) count += std::memcmp(g + k, w + k, es) != 0;
    auto val = [&](const uint8_t* p) {
        const uint8_t* q = p + e * es;
        switch (es) {
            case 1: return fmt("%u", unsigned(q[0]));
            case 2: {
                uint16_t v;
                std::memcpy(&v, q, 2);
                return fmt("%d (0x%04x)", int(int16_t(v)), unsigned(v));
            }
            default: {
                float f;
                uint32_t u;
                std::memcpy(&f, q, 4);
                std::memcpy(&u, q, 4);
                return fmt("%.9g (0x%08x)", double(f), unsigned(u));
            }
        }
    };
    *why = fmt("first mismatch at element %zu: got %s, scalar %s (%zu elements differ)", e, val(g).c_str(),
               val(w).c_str(), count);
    return false;
}

// ---- levels -----------------------------------------------------------------

std::vector<Simd> simd_levels() {
    std::vector<Simd> out;
    for (Simd s : supported_simd())
        if (s != Simd::Scalar) out.push_back(s);
    return out;
}

void check_levels() {
    Group g("dispatch");
    const std::vector<Simd> sup = supported_simd();
    auto has = [&](Simd s) { return std::find(sup.begin(), sup.end(), s) != sup.end(); };
    record(has(Simd::Scalar), "scalar level is supported");
#if defined(EV_HAVE_NEON)
    record(has(Simd::NEON) && best_simd() == Simd::NEON, "NEON build: neon level supported and best");
    record(&row_fns(Simd::NEON) != &scalar_row_fns(), "NEON build: row_fns(neon) is not the scalar table");
#endif
#if defined(EV_HAVE_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.1"))
        record(has(Simd::SSE41) && &row_fns(Simd::SSE41) != &scalar_row_fns(), "x86 build: sse41 level supported");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        record(has(Simd::AVX2) && &row_fns(Simd::AVX2) != &scalar_row_fns(), "x86 build: avx2 level supported");
#endif
    for (Simd s : sup) {
        bool ok = true;
        try {
            set_simd(s);
            ok = active_simd() == s;
        } catch (const std::exception&) {
            ok = false;
        }
        record(ok, fmt("set_simd(%s)", simd_name(s)));
    }
    set_simd(Simd::Scalar);
}

// ---- hpass ------------------------------------------------------------------

struct HCase {
    int cn, L, src_w, n;
    bool slack;
    Interp interp;
    int8_t lanes[4];
};

void run_hcase(Rng& r, const HCase& hc, const std::vector<Simd>& levels, bool subrange) {
    const ptrdiff_t row_bytes = ptrdiff_t(hc.src_w) * hc.cn + (hc.slack ? 16 : 0);
    // Two source rows (for hpass2), each ending at a guard page.
    Guarded src0(static_cast<size_t>(row_bytes)), src1(static_cast<size_t>(row_bytes));
    for (Guarded* g : {&src0, &src1}) {
        fill_random(r, g->data(), g->size());
        if (r.coin(0.2))  // extremes
            for (size_t i = 0; i < g->size(); ++i) g->data()[i] = r.coin() ? 255 : 0;
    }
    const HTable t = make_htable(hc.src_w, hc.n, hc.cn, hc.interp, row_bytes);
    int x0 = 0, x1 = hc.n;
    if (subrange && hc.n > 1) {
        x0 = r.uni(0, hc.n - 1);
        x1 = r.uni(x0, hc.n);
    }
    const std::string what = fmt("cn=%d L=%d lanes=%s src_w=%d n=%d [%d,%d) %s%s simd_safe=%d", hc.cn, hc.L,
                                 lanes_str(hc.lanes, hc.L).c_str(), hc.src_w, hc.n, x0, x1,
                                 hc.interp == Interp::Bilinear ? "bilinear" : "nearest", hc.slack ? " +slack" : "",
                                 t.simd_safe);
    const size_t len = size_t(hc.n) * hc.L + 24;
    const int16_t sentinel = int16_t(0x5A5A);
    std::vector<int16_t> want0(len, sentinel), want1(len, sentinel);
    scalar_row_fns().hpass(src0.data(), t, hc.lanes, hc.L, want0.data(), x0, x1);
    scalar_row_fns().hpass(src1.data(), t, hc.lanes, hc.L, want1.data(), x0, x1);
    for (Simd lv : levels) {
        g_level = simd_name(lv);
        const RowFns& fn = row_fns(lv);
        std::vector<int16_t> got0(len, sentinel), got1(len, sentinel);
        std::string why;
        fn.hpass(src0.data(), t, hc.lanes, hc.L, got0.data(), x0, x1);
        bool ok = same_bytes(got0.data(), want0.data(), len * 2, 2, &why);
        record(ok, fmt("hpass/%s %s%s%s", simd_name(lv), what.c_str(), ok ? "" : ": ", why.c_str()));
        // hpass2 must equal hpass on each row.
        std::fill(got0.begin(), got0.end(), sentinel);
        fn.hpass2(src0.data(), src1.data(), t, hc.lanes, hc.L, got0.data(), got1.data(), x0, x1);
        ok = same_bytes(got0.data(), want0.data(), len * 2, 2, &why) &&
             same_bytes(got1.data(), want1.data(), len * 2, 2, &why);
        record(ok, fmt("hpass2/%s %s%s%s", simd_name(lv), what.c_str(), ok ? "" : ": ", why.c_str()));
    }
    // The point-sample shortcut: every level agrees with the scalar one, and on
    // point tables the scalar one equals hpass followed by vpass with weights (2048, 0).
    std::vector<int16_t> pwant(len, sentinel);
    scalar_row_fns().point(src0.data(), t, hc.lanes, hc.L, pwant.data(), x0, x1);
    for (Simd lv : levels) {
        g_level = simd_name(lv);
        std::vector<int16_t> got(len, sentinel);
        std::string why;
        row_fns(lv).point(src0.data(), t, hc.lanes, hc.L, got.data(), x0, x1);
        const bool ok = same_bytes(got.data(), pwant.data(), len * 2, 2, &why);
        record(ok, fmt("point/%s %s%s%s", simd_name(lv), what.c_str(), ok ? "" : ": ", why.c_str()));
    }
    if (t.point) {
        std::vector<int16_t> blended(len, sentinel);
        const int a = x0 * hc.L, b = x1 * hc.L;
        scalar_row_fns().vpass(want0.data() + a, want0.data() + a, int16_t(kCoefScale), 0, blended.data() + a, b - a);
        std::string why;
        const bool ok = same_bytes(blended.data(), pwant.data(), len * 2, 2, &why);
        record(ok, fmt("point == vpass(hpass) %s%s%s", what.c_str(), ok ? "" : ": ", why.c_str()));
        ++g_point_tables;
    }
    // The scalar hpass2 itself must agree with the scalar hpass.
    std::vector<int16_t> s0(len, sentinel), s1(len, sentinel);
    scalar_row_fns().hpass2(src0.data(), src1.data(), t, hc.lanes, hc.L, s0.data(), s1.data(), x0, x1);
    std::string why;
    const bool ok = same_bytes(s0.data(), want0.data(), len * 2, 2, &why) &&
                    same_bytes(s1.data(), want1.data(), len * 2, 2, &why);
    record(ok, fmt("hpass2/scalar == hpass/scalar %s%s%s", what.c_str(), ok ? "" : ": ", why.c_str()));
}

void test_hpass(Rng& r, const std::vector<Simd>& levels, bool quick) {
    Group g("hpass + hpass2");
    std::vector<int> widths;
    for (int n = 1; n <= 70; ++n) widths.push_back(n);
    for (int n : {127, 128, 129, 255, 256, 640, 1001, 1923}) widths.push_back(n);
    for (int cn : {1, 3, 4}) {
        std::vector<std::vector<int8_t>> maps4;  // L = 4
        if (cn == 1) maps4 = {{0, 0, 0, -1}, {0, 0, 0, 0}, {-1, 0, -1, 0}, {-1, -1, -1, -1}};
        if (cn == 3) maps4 = {{0, 1, 2, -1}, {2, 1, 0, -1}, {2, 1, 0, 0}, {0, 0, 0, -1}, {1, -1, 2, 0}};
        if (cn == 4) maps4 = {{0, 1, 2, 3}, {2, 1, 0, 3}, {2, 1, 0, -1}, {3, 3, -1, 0}, {0, 1, 2, -1}};
        std::vector<int8_t> rnd(4);
        for (auto& v : rnd) v = int8_t(r.uni(-1, cn - 1));
        maps4.push_back(rnd);
        std::vector<std::vector<int8_t>> maps1 = {{-1, -1, -1, -1}};
        for (int c = 0; c < cn; ++c) maps1.push_back({int8_t(c), -1, -1, -1});
        for (int L : {1, 4}) {
            const auto& maps = L == 4 ? maps4 : maps1;
            for (const auto& m : maps)
                for (int n : widths) {
                    if (quick && n > 70 && n != 256) continue;
                    for (int k = 0; k < 3; ++k) {
                        HCase hc{};
                        hc.cn = cn;
                        hc.L = L;
                        hc.n = n;
                        // Down-, up- and same-size; tiny sources too.
                        hc.src_w = k == 0 ? r.uni(1, 2 * n + 3) : (k == 1 ? r.uni(1, 4) : r.pick(std::vector<int>{n, 2 * n, n / 2 + 1, 3 * n + 1, 3 * n, 5 * n}));
                        hc.slack = r.coin();
                        hc.interp = k == 2 ? Interp::Nearest : Interp::Bilinear;
                        if (r.coin(0.3)) hc.interp = r.coin() ? Interp::Nearest : Interp::Bilinear;
                        for (int l = 0; l < 4; ++l) hc.lanes[l] = m[size_t(l)];
                        run_hcase(r, hc, levels, r.coin(0.2));
                    }
                }
        }
    }
}

// ---- vpass ------------------------------------------------------------------

void test_vpass(Rng& r, const std::vector<Simd>& levels, bool quick) {
    Group g("vpass");
    std::vector<int> lens;
    for (int n = 0; n <= 70; ++n) lens.push_back(n);
    for (int n : {127, 128, 129, 255, 256, 1000, 1024 * 4 + 3}) lens.push_back(n);
    const int reps = quick ? 4 : 12;
    for (int n : lens)
        for (int rep = 0; rep < reps; ++rep) {
            int16_t b0 = int16_t(rep < 3 ? (rep == 0 ? 0 : (rep == 1 ? 2048 : 1024)) : r.uni(0, 2048));
            int16_t b1 = int16_t(kCoefScale - b0);
            const int off0 = r.uni(0, 1), off1 = r.uni(0, 1), offr = r.uni(0, 1);  // unaligned rows too
            std::vector<int16_t> h0(size_t(n) + 2), h1(size_t(n) + 2);
            const int mode = r.uni(0, 3);
            for (int i = 0; i < n + 2; ++i) {
                if (mode == 0) {  // extremes of the valid range
                    h0[size_t(i)] = int16_t(r.coin() ? 32640 : 0);
                    h1[size_t(i)] = int16_t(r.coin() ? 32640 : 0);
                } else {
                    h0[size_t(i)] = int16_t(r.uni(0, 32640));
                    h1[size_t(i)] = int16_t(r.uni(0, 32640));
                }
            }
            const size_t len = size_t(n) + 1 + 16;
            std::vector<int16_t> want(len, int16_t(0x3C3C));
            scalar_row_fns().vpass(h0.data() + off0, h1.data() + off1, b0, b1, want.data() + offr, n);
            for (Simd lv : levels) {
                g_level = simd_name(lv);
                std::vector<int16_t> got(len, int16_t(0x3C3C));
                row_fns(lv).vpass(h0.data() + off0, h1.data() + off1, b0, b1, got.data() + offr, n);
                std::string why;
                const bool ok = same_bytes(got.data(), want.data(), len * 2, 2, &why);
                record(ok, fmt("vpass/%s n=%d b0=%d b1=%d%s%s", simd_name(lv), n, b0, b1, ok ? "" : ": ", why.c_str()));
            }
        }
}

// ---- store ------------------------------------------------------------------

float rand_wide(Rng& r) {  // sign * 2^[-30, 12] * [1, 2)
    const float m = float(r.unif(1.0, 2.0)) * std::ldexp(1.0f, r.uni(-30, 12));
    return r.coin() ? m : -m;
}

// Random a/b; every kind keeps |R * a + b| far below 2^31 for |R| <= 32768.
void random_affine(Rng& r, OutSpec& s) {
    const int kind = r.uni(0, 6);
    for (int c = 0; c < 4; ++c) {
        float a = 1, b = 0;
        switch (kind) {
            case 0: break;  // identity
            case 1:         // ImageNet-like normalisation
                a = float(1.0 / (255.0 * r.unif(0.1, 0.5)));
                b = float(-r.unif(0.2, 0.6) / r.unif(0.1, 0.5));
                break;
            case 2:
                a = float(r.unif(-2, 2));
                b = float(r.unif(-300, 300));
                break;
            case 3:  // rounding ties for u8, exact halves
                a = r.pick(std::vector<float>{0.5f, 1.5f, -0.5f, 0.25f, 2.5f});
                b = r.pick(std::vector<float>{0.0f, 0.5f, -0.5f, 0.25f, 128.5f});
                break;
            case 4:  // wide exponents: f16 subnormals, overflow to inf, u8 saturation
                a = rand_wide(r);
                b = r.coin(0.3) ? 0.f : rand_wide(r);
                break;
            case 5:  // f16 near the largest finite value / the rounding-to-inf threshold
                a = float(r.unif(250.0, 260.0));
                b = float(r.unif(-40.0, 40.0));
                break;
            default:
                a = float(r.unif(-1, 1)) / 255.f;
                b = float(r.unif(-1, 1));
                break;
        }
        s.a[c] = a;
        s.b[c] = b;
    }
}

// Runs store at every level on the same R and compares the whole output buffer
// (sentinel margin included) with the scalar result, byte for byte.
void check_store(const std::vector<Simd>& levels, const OutSpec& s, const std::vector<int16_t>& R, int n,
                 ptrdiff_t plane, int x, size_t bytes, const std::string& label) {
    Aligned want(bytes, 0xA5);
    scalar_row_fns().store(R.data(), n, s, want.data(), plane, x);
    for (Simd lv : levels) {
        g_level = simd_name(lv);
        Aligned got(bytes, 0xA5);
        row_fns(lv).store(R.data(), n, s, got.data(), plane, x);
        std::string why;
        const bool ok = same_bytes(got.data(), want.data(), bytes, esize(s.dtype), &why);
        record(ok, fmt("%s/%s %s%s%s", label.c_str(), simd_name(lv), spec_str(s).c_str(), ok ? "" : ": ", why.c_str()));
    }
}

void test_store(Rng& r, const std::vector<Simd>& levels, bool quick) {
    Group g("store");
    std::vector<int> lens;
    for (int n = 0; n <= 70; ++n) lens.push_back(n);
    for (int n : {127, 128, 129, 255, 256, 1000}) lens.push_back(n);
    const int reps = quick ? 1 : 4;
    for (DType dt : {DType::F32, DType::F16, DType::U8})
        for (bool nhwc : {false, true})
            for (int C : {1, 3, 4})
                for (int n : lens)
                    for (int rep = 0; rep < reps; ++rep) {
                        OutSpec s;
                        s.dtype = dt;
                        s.nhwc = nhwc;
                        s.C = C;
                        s.L = C == 1 ? 1 : 4;
                        random_affine(r, s);
                        // Sometimes vector-aligned rows and planes (x, plane multiples of 8 on a
                        // 64-byte aligned buffer).
                        const bool aligned = r.coin(0.35);
                        const int x = aligned ? 8 * r.uni(0, 2) : r.uni(0, 9);
                        int W = x + n + r.uni(0, 5);
                        if (aligned) W = (W + 7) / 8 * 8;
                        s.W = W;
                        s.H = 1;
                        const ptrdiff_t plane = W;
                        // R: 0..255 as produced by vpass/warp, lane 3 garbage for C == 3, or full int16.
                        std::vector<int16_t> R(size_t(n) * s.L + 8);
                        const bool full = r.coin(0.2);
                        for (auto& v : R) v = int16_t(full ? r.uni(-32768, 32767) : r.uni(0, 255));
                        const size_t elems = nhwc ? size_t(W) * C + 16 : size_t(C) * plane + 16;
                        check_store(levels, s, R, n, plane, x, elems * esize(dt),
                                    fmt("store n=%d x=%d W=%d%s", n, x, W, full ? " full-range-R" : ""));
                    }
}

// ---- whole images -----------------------------------------------------------

struct RandImage {
    std::unique_ptr<Guarded> mem;
    SrcImage img;
};

// Random source: packed rows (optionally padded), strided pixels, or planar channels.
RandImage random_image(Rng& r, int h, int w, int cn) {
    RandImage ri;
    SrcImage& s = ri.img;
    s.h = h;
    s.w = w;
    s.cn = cn;
    const int kind = r.uni(0, 5);
    size_t size;
    if (kind <= 3) {  // packed rows, the common case; the last row ends at the guard page
        s.ps = cn;
        s.cs = 1;
        s.rs = ptrdiff_t(w) * cn + (kind == 0 ? r.uni(1, 13) : 0);
        size = size_t((h - 1) * s.rs + ptrdiff_t(w) * cn);
    } else if (kind == 4) {  // pixel stride > cn (e.g. a channel view)
        s.ps = cn + r.uni(1, 2);
        s.cs = 1;
        s.rs = ptrdiff_t(w) * s.ps + r.uni(0, 5);
        size = size_t((h - 1) * s.rs + (w - 1) * s.ps + cn);
    } else {  // planar (CHW)
        s.ps = 1;
        s.rs = w;
        s.cs = ptrdiff_t(h) * w;
        size = size_t(cn) * h * w;
    }
    ri.mem = std::make_unique<Guarded>(size);
    fill_random(r, ri.mem->data(), size);
    if (r.coin(0.3)) {  // smooth content, closer to real images
        for (size_t i = 0; i < size; ++i) ri.mem->data()[i] = uint8_t((i * 7 + (i / 97) * 3) & 0xff);
    }
    s.data = ri.mem->data();
    return ri;
}

OutSpec random_spec(Rng& r, int min_cn, int H, int W) {
    OutSpec s;
    s.dtype = r.pick(std::vector<DType>{DType::F32, DType::F16, DType::U8});
    s.nhwc = r.coin();
    s.C = r.pick(std::vector<int>{1, 3, 4});
    s.L = s.C == 1 ? 1 : 4;
    s.H = H;
    s.W = W;
    const int kind = r.uni(0, 3);
    for (int c = 0; c < 4; ++c) {
        int8_t l = int8_t(kind == 0 ? std::min(c, min_cn - 1) : (kind == 1 ? std::max(0, min_cn - 1 - c) : r.uni(-1, min_cn - 1)));
        if (kind == 3 && min_cn == 1) l = 0;  // gray -> 3/4
        s.lane_src[c] = c < s.C ? l : int8_t(-1);
    }
    if (s.C == 1 && r.coin(0.05)) s.lane_src[0] = -1;
    random_affine(r, s);
    for (int c = 0; c < 4; ++c) {
        s.pad_u8[c] = uint8_t(r.uni(0, 255));
        s.pad[c] = r.coin() ? float(s.pad_u8[c]) * s.a[c] + s.b[c] : float(r.unif(-2, 2));
    }
    return s;
}

int random_side(Rng& r, bool quick) {
    if (!quick && r.coin(0.08)) return r.uni(100, 400);
    return r.uni(1, 64);
}

void test_resize(Rng& r, const std::vector<Simd>& levels, bool quick) {
    Group g("run_resize");
    const int cases = quick ? 60 : 500;
    for (int k = 0; k < cases; ++k) {
        // The first few cases have outputs >= 1 MiB per image (large outputs).
        const bool big = k < (quick ? 1 : 4);
        const int nimg = big ? 1 : r.uni(1, 3);
        const int H = big ? r.uni(330, 420) : random_side(r, quick), W = big ? r.uni(330, 420) : random_side(r, quick);
        std::vector<RandImage> imgs;
        int min_cn = 4;
        const int cn_all = r.pick(std::vector<int>{1, 3, 4});
        for (int i = 0; i < nimg; ++i) {
            const int cn = r.coin(0.8) ? cn_all : r.pick(std::vector<int>{1, 3, 4});
            min_cn = std::min(min_cn, cn);
            imgs.push_back(random_image(r, random_side(r, quick), random_side(r, quick), cn));
        }
        OutSpec s = random_spec(r, min_cn, H, W);
        if (big) {
            s.dtype = DType::F32;
            s.nhwc = k % 2 == 1;
            if (s.C == 1) {  // gray output -> 3 channels of the same source channel
                s.C = 3;
                s.L = 4;
                s.lane_src[1] = s.lane_src[2] = s.lane_src[0];
                s.lane_src[3] = -1;
            }
        }
        const Interp interp = r.coin(0.7) ? Interp::Bilinear : Interp::Nearest;
        const int threads = r.uni(1, 3);
        const size_t per_img = size_t(H) * W * s.C * esize(s.dtype);
        std::vector<ResizeJob> jobs_want(static_cast<size_t>(nimg)), jobs_got(static_cast<size_t>(nimg));
        Aligned want(per_img * nimg + 64, 0xA5);
        std::string desc;
        for (int i = 0; i < nimg; ++i) {
            ResizeJob j;
            j.src = imgs[size_t(i)].img;
            if (r.coin(0.4)) {
                j.place = {0, 0, W, H};
            } else {
                j.place.cw = r.uni(1, W);
                j.place.ch = r.uni(1, H);
                j.place.x0 = r.uni(0, W - j.place.cw);
                j.place.y0 = r.uni(0, H - j.place.ch);
            }
            jobs_want[size_t(i)] = j;
            jobs_got[size_t(i)] = j;
            jobs_want[size_t(i)].out = want.data() + per_img * i;
            desc += fmt(" [%dx%dx%d rs=%td ps=%td cs=%td -> %d,%d %dx%d]", j.src.h, j.src.w, j.src.cn, j.src.rs,
                        j.src.ps, j.src.cs, j.place.x0, j.place.y0, j.place.cw, j.place.ch);
        }
        set_simd(Simd::Scalar);
        run_resize(jobs_want, s, interp, threads);
        for (Simd lv : levels) {
            g_level = simd_name(lv);
            Aligned got(want.size(), 0xA5);
            for (int i = 0; i < nimg; ++i) jobs_got[size_t(i)].out = got.data() + per_img * i;
            set_simd(lv);
            run_resize(jobs_got, s, interp, threads);
            set_simd(Simd::Scalar);
            std::string why;
            const bool ok = same_bytes(got.data(), want.data(), got.size(), esize(s.dtype), &why);
            record(ok, fmt("run_resize/%s %s out %dx%d %s threads=%d%s%s%s", simd_name(lv), spec_str(s).c_str(), H, W,
                           interp == Interp::Bilinear ? "bilinear" : "nearest", threads, desc.c_str(), ok ? "" : ": ",
                           why.c_str()));
        }
    }
}

void random_matrix(Rng& r, int sh, int sw, int H, int W, double M[9]) {
    // Maps output (x, y, 1) to source coordinates.
    const int kind = r.uni(0, 4);
    if (kind == 0) {  // identity-ish scale
        const double sx = double(sw) / W, sy = double(sh) / H;
        const double m[9] = {sx, 0, r.unif(-2, 2), 0, sy, r.unif(-2, 2), 0, 0, 1};
        std::copy(m, m + 9, M);
        return;
    }
    const double ang = r.unif(-3.2, 3.2), sc = std::exp(r.unif(-1.2, 1.2));
    const double cx = W / 2.0, cy = H / 2.0, scx = sw / 2.0 + r.unif(-5, 5), scy = sh / 2.0 + r.unif(-5, 5);
    const double c = std::cos(ang) * sc, s = std::sin(ang) * sc;
    M[0] = c;
    M[1] = -s;
    M[2] = scx - c * cx + s * cy;
    M[3] = s;
    M[4] = c;
    M[5] = scy - s * cx - c * cy;
    M[6] = 0;
    M[7] = 0;
    M[8] = 1;
    if (kind >= 3) {  // perspective
        M[6] = r.unif(-0.004, 0.004);
        M[7] = r.unif(-0.004, 0.004);
        M[8] = 1 - M[6] * cx - M[7] * cy;
    }
    if (kind == 4 && r.coin(0.3)) M[2] += r.coin() ? 1e4 : -1e4;  // entirely outside
}

void test_warp(Rng& r, const std::vector<Simd>& levels, bool quick) {
    Group g("run_warp");
    const int cases = quick ? 40 : 400;
    for (int k = 0; k < cases; ++k) {
        const int cn = r.pick(std::vector<int>{1, 3, 4});
        RandImage ri = random_image(r, random_side(r, quick), random_side(r, quick), cn);
        const int H = random_side(r, quick), W = random_side(r, quick);
        const OutSpec s = random_spec(r, cn, H, W);
        double M[9];
        random_matrix(r, ri.img.h, ri.img.w, H, W, M);
        const int threads = r.uni(1, 3);
        const size_t bytes = size_t(H) * W * s.C * esize(s.dtype) + 64;
        Aligned want(bytes, 0xA5);
        set_simd(Simd::Scalar);
        run_warp(ri.img, M, want.data(), s, threads);
        for (Simd lv : levels) {
            g_level = simd_name(lv);
            Aligned got(bytes, 0xA5);
            set_simd(lv);
            run_warp(ri.img, M, got.data(), s, threads);
            set_simd(Simd::Scalar);
            std::string why;
            const bool ok = same_bytes(got.data(), want.data(), bytes, esize(s.dtype), &why);
            record(ok, fmt("run_warp/%s %s src %dx%dx%d (rs=%td ps=%td cs=%td) out %dx%d M={%g,%g,%g,%g,%g,%g,%g,%g,%g}%s%s",
                           simd_name(lv), spec_str(s).c_str(), ri.img.h, ri.img.w, cn, ri.img.rs, ri.img.ps,
                           ri.img.cs, H, W, M[0], M[1], M[2], M[3], M[4], M[5], M[6], M[7], M[8], ok ? "" : ": ",
                           why.c_str()));
        }
    }
}

// ---- edge values (opt-in: --edge) ------------------------------------------
//
// Inputs outside what the pipeline produces or what sane options give, where a
// SIMD level could still differ from the scalar code: infinite, NaN (with
// payloads) or huge affine parameters (|v| >= 2^31 for u8), float denormals,
// and vpass at the edges of its domain (h in [0, 32640], b0 + b1 == 2048).

float special_value(Rng& r) {
    auto bits = [](uint32_t u) {
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    };
    const std::vector<float> v = {INFINITY, -INFINITY, bits(0x7fc00000u), bits(0xffc00000u), bits(0x7f812345u),
                                  bits(0xffa00001u), bits(0x7fbfffffu), 1e8f, -1e8f, 3e9f, -3e9f, 3.4e38f, -3.4e38f,
                                  1e-40f, -1e-40f, 0.f, -0.f, 65519.99f, 65520.f, 2147483520.f, 2147483648.f};
    return r.pick(v);
}

void test_edge(Rng& r, const std::vector<Simd>& levels) {
    {
        Group g("edge: store");
        for (DType dt : {DType::F32, DType::F16, DType::U8})
            for (bool nhwc : {false, true})
                for (int C : {1, 3, 4})
                    for (int n : {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 67})
                        for (int rep = 0; rep < 4; ++rep) {
                            OutSpec s;
                            s.dtype = dt;
                            s.nhwc = nhwc;
                            s.C = C;
                            s.L = C == 1 ? 1 : 4;
                            random_affine(r, s);
                            for (int c = 0; c < 4; ++c) {
                                if (r.coin(0.6)) s.a[c] = special_value(r);
                                if (r.coin(0.4)) s.b[c] = special_value(r);
                            }
                            const int x = r.uni(0, 3), W = x + n + 1;
                            s.W = W;
                            s.H = 1;
                            std::vector<int16_t> R(size_t(n) * s.L + 8);
                            for (auto& v : R) v = int16_t(r.coin(0.2) ? 0 : r.uni(-32768, 32767));
                            const size_t bytes = (nhwc ? size_t(W) * C + 16 : size_t(C) * W + 16) * esize(dt);
                            check_store(levels, s, R, n, W, x, bytes, fmt("edge store n=%d x=%d", n, x));
                        }
    }
    {
        Group g("edge: vpass");
        for (int n = 0; n <= 70; ++n)
            for (int rep = 0; rep < 6; ++rep) {
                // The vertical blend's domain: horizontal sums h in [0, 32640] (255 * 2048 >> 4)
                // and weights b0 + b1 == 2048, b in [0, 2048]. Its edges: all-extreme rows,
                // weights 0/2048, and random values inside. (Outside the domain the 16-bit SIMD
                // arithmetic may wrap; make_vtable/make_htable never produce such inputs.)
                const int16_t b0 = int16_t(rep == 0 ? 0 : (rep == 1 ? 2048 : r.uni(0, 2048)));
                const int16_t b1 = int16_t(2048 - b0);
                std::vector<int16_t> h0(size_t(n) + 1), h1(size_t(n) + 1);
                for (int i = 0; i < n; ++i) {
                    h0[size_t(i)] = int16_t(rep < 3 ? (r.coin() ? 0 : 32640) : r.uni(0, 32640));
                    h1[size_t(i)] = int16_t(rep < 3 ? (r.coin() ? 0 : 32640) : r.uni(0, 32640));
                }
                const size_t len = size_t(n) + 16;
                std::vector<int16_t> want(len, int16_t(0x3C3C));
                scalar_row_fns().vpass(h0.data(), h1.data(), b0, b1, want.data(), n);
                for (Simd lv : levels) {
                    g_level = simd_name(lv);
                    std::vector<int16_t> got(len, int16_t(0x3C3C));
                    row_fns(lv).vpass(h0.data(), h1.data(), b0, b1, got.data(), n);
                    std::string why;
                    const bool ok = same_bytes(got.data(), want.data(), len * 2, 2, &why);
                    record(ok, fmt("edge vpass/%s n=%d b0=%d b1=%d%s%s", simd_name(lv), n, b0, b1, ok ? "" : ": ",
                                   why.c_str()));
                }
            }
    }
}

// The comparison must notice a single wrong element (guards against a vacuous harness).
void test_harness() {
    Group g("harness self-check");
    std::vector<int16_t> a(100, 7), b(100, 7);
    b[57] = 8;
    std::string why;
    record(!same_bytes(a.data(), b.data(), a.size() * 2, 2, &why) && why.find("element 57") != std::string::npos,
           "same_bytes reports a single differing element");
    record(same_bytes(a.data(), a.data(), a.size() * 2, 2, &why), "same_bytes accepts identical buffers");
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep progress visible if a SIMD load faults
    uint64_t seed = 20240607;
    bool quick = false, edge = false;
    if (const char* e = std::getenv("EV_TEST_SEED")) seed = std::strtoull(e, nullptr, 0);
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--seed" && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 0);
        } else if (a == "--quick") {
            quick = true;
        } else if (a == "--edge") {
            edge = true;
        } else if (a == "--verbose" || a == "-v") {
            g_verbose = true;
        } else {
            std::fprintf(stderr, "usage: %s [--seed N] [--quick] [--edge] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    const std::vector<Simd> levels = simd_levels();
    std::string names;
    for (Simd s : levels) names += std::string(" ") + simd_name(s);
#if defined(__aarch64__)
    const char* arch = "aarch64";
#elif defined(__x86_64__)
    const char* arch = "x86_64";
#else
    const char* arch = "unknown";
#endif
    std::printf("edgevision row-function test (%s), seed %" PRIu64 "%s%s, SIMD levels vs scalar:%s\n", arch, seed,
                quick ? ", quick" : "", edge ? ", edge values" : "", names.empty() ? " (none)" : names.c_str());
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGBUS, on_fatal_signal);
    Rng r(seed);
    try {
        test_harness();
        check_levels();
        if (levels.empty()) record(false, "no SIMD level to test in this build/CPU");
        test_hpass(r, levels, quick);
        record(g_point_tables > 0, fmt("hpass cases include point-sample tables (%ld)", g_point_tables));
        test_vpass(r, levels, quick);
        test_store(r, levels, quick);
        test_resize(r, levels, quick);
        test_warp(r, levels, quick);
        if (edge) test_edge(r, levels);
    } catch (const std::exception& e) {
        record(false, std::string("exception: ") + e.what());
    }
    std::printf("%ld passed, %ld failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
