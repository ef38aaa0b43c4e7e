// Scalar reference row functions: the ground truth for every SIMD variant.
// Keep these simple; they define the results bit for bit.
#include <cmath>
#include <cstring>

#include "kernel.hpp"

namespace ev {

uint16_t float_to_half(float f) {
    // IEEE 754 binary16, round to nearest even (what numpy and F16C do).
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((ax & 0x7fffffu) >> 13));  // quiet NaN, payload kept (as F16C)
    if (ax == 0x7f800000u) return uint16_t(sign | 0x7c00u);
    if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (ax < 0x38800000u) {                                   // below 2^-14: subnormal or zero
        float af;
        std::memcpy(&af, &ax, 4);
        return uint16_t(sign | uint32_t(std::nearbyint(af * 16777216.0f)));  // exact scaling by 2^24
    }
    uint32_t h = ((((ax >> 23) - 112u)) << 10) | ((ax & 0x7fffffu) >> 13);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return uint16_t(sign | h);
}

namespace {

void hpass_scalar(const uint8_t* S, const HTable& t, const int8_t* lane_src, int L, int16_t* D,
                  int x0, int x1) {
    for (int x = x0; x < x1; ++x) {
        const int a0 = int16_t(t.wts[x] & 0xffff), a1 = t.wts[x] >> 16;
        const uint8_t* p0 = S + t.ofs0[x];
        const uint8_t* p1 = S + t.ofs1[x];
        for (int l = 0; l < L; ++l) {
            const int c = lane_src[l];
            D[x * L + l] = c < 0 ? int16_t(0) : int16_t((p0[c] * a0 + p1[c] * a1) >> 4);
        }
    }
}

void point_scalar(const uint8_t* S, const HTable& t, const int8_t* lane_src, int L, int16_t* R, int x0, int x1) {
    for (int x = x0; x < x1; ++x) {
        const uint8_t* p = S + t.ofs0[x];
        for (int l = 0; l < L; ++l) {
            const int c = lane_src[l];
            R[x * L + l] = c < 0 ? int16_t(0) : int16_t(p[c]);
        }
    }
}

void hpass2_scalar(const uint8_t* S0, const uint8_t* S1, const HTable& t, const int8_t* lane_src, int L,
                   int16_t* D0, int16_t* D1, int x0, int x1) {
    hpass_scalar(S0, t, lane_src, L, D0, x0, x1);
    hpass_scalar(S1, t, lane_src, L, D1, x0, x1);
}

void vpass_scalar(const int16_t* H0, const int16_t* H1, int16_t b0, int16_t b1, int16_t* R, int n) {
    for (int i = 0; i < n; ++i) R[i] = vblend(H0[i], H1[i], b0, b1);
}

inline void put(void* dst, ptrdiff_t idx, float v, DType dt) {
    switch (dt) {
        case DType::F32: static_cast<float*>(dst)[idx] = v; break;
        case DType::F16: static_cast<uint16_t*>(dst)[idx] = float_to_half(v); break;
        case DType::U8: {
            // Clamp first (NaN -> 0, as SIMD max/min do), then round half to even.
            float r = v > 0.f ? v : 0.f;
            r = r < 255.f ? r : 255.f;
            static_cast<uint8_t*>(dst)[idx] = uint8_t(std::nearbyint(r));
            break;
        }
    }
}

void store_scalar(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    const int L = s.L, C = s.C;
    for (int i = 0; i < n; ++i) {
        for (int c = 0; c < C; ++c) {
            // Multiply then add, two roundings: every SIMD path does the same
            // (no FMA), so all levels agree bit for bit.
            float v = float(R[i * L + c]) * s.a[c];
            v = v + s.b[c];
            const ptrdiff_t idx = s.nhwc ? ptrdiff_t(x + i) * C + c : c * plane + (x + i);
            put(dst, idx, v, s.dtype);
        }
    }
}

}  // namespace

const RowFns& scalar_row_fns() {
    static const RowFns fns{hpass_scalar, hpass2_scalar, vpass_scalar, store_scalar, point_scalar};
    return fns;
}

}  // namespace ev
