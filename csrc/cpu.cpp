// Run-time SIMD dispatch (libyuv style). EDGEVISION_SIMD=scalar|sse41|avx2|neon
// caps the level at start-up; unknown values are ignored with a warning on stderr.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "kernel.hpp"

namespace ev {
namespace {

Simd detect() {
#if defined(EV_HAVE_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return Simd::AVX2;
    if (__builtin_cpu_supports("sse4.1")) return Simd::SSE41;
    return Simd::Scalar;
#elif defined(EV_HAVE_NEON)
    return Simd::NEON;  // Advanced SIMD is mandatory on AArch64
#else
    return Simd::Scalar;
#endif
}

Simd initial() {
    Simd best = detect();
    if (const char* env = std::getenv("EDGEVISION_SIMD")) {
        Simd want;
        if (!parse_simd(env, &want) && std::string(env) != "auto") {
            std::fprintf(stderr, "edgevision: ignoring EDGEVISION_SIMD=%s (expected scalar, sse41, avx2, neon or auto)\n", env);
        } else if (std::string(env) != "auto") {
            bool ok = false;
            for (Simd s : supported_simd()) ok = ok || s == want;
            if (ok) return want;
            std::fprintf(stderr, "edgevision: EDGEVISION_SIMD=%s is not supported on this CPU/build; using %s\n", env,
                         simd_name(best));
        }
    }
    return best;
}

std::atomic<int>& active() {
    static std::atomic<int> level{int(initial())};
    return level;
}

}  // namespace

Simd best_simd() {
    static const Simd best = detect();
    return best;
}

std::vector<Simd> supported_simd() {
    std::vector<Simd> out{Simd::Scalar};
    const Simd best = best_simd();
#if defined(EV_HAVE_X86)
    if (best == Simd::SSE41 || best == Simd::AVX2) out.push_back(Simd::SSE41);
    if (best == Simd::AVX2) out.push_back(Simd::AVX2);
#endif
#if defined(EV_HAVE_NEON)
    if (best == Simd::NEON) out.push_back(Simd::NEON);
#endif
    return out;
}

Simd active_simd() { return Simd(active().load()); }

void set_simd(Simd level) {
    for (Simd s : supported_simd())
        if (s == level) {
            active().store(int(level));
            return;
        }
    throw std::invalid_argument(std::string("simd level '") + simd_name(level) +
                                "' is not supported on this CPU/build");
}

const char* simd_name(Simd level) {
    switch (level) {
        case Simd::Scalar: return "scalar";
        case Simd::SSE41: return "sse41";
        case Simd::AVX2: return "avx2";
        case Simd::NEON: return "neon";
    }
    return "?";
}

bool parse_simd(const std::string& name, Simd* out) {
    for (Simd s : {Simd::Scalar, Simd::SSE41, Simd::AVX2, Simd::NEON})
        if (name == simd_name(s)) {
            *out = s;
            return true;
        }
    return false;
}

const RowFns& row_fns(Simd level) {
    switch (level) {
#if defined(EV_HAVE_X86)
        case Simd::SSE41: return sse41_row_fns();
        case Simd::AVX2: return avx2_row_fns();
#endif
#if defined(EV_HAVE_NEON)
        case Simd::NEON: return neon_row_fns();
#endif
        default: return scalar_row_fns();
    }
}

}  // namespace ev
