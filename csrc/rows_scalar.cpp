// Scalar reference row functions: the ground truth for every SIMD variant.
// Keep these simple; they define the results bit for bit.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

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

constexpr int kInterBits = 5;
constexpr int kTab = 1 << kInterBits;  // 1/32 pixel

// Round to the nearest integer, ties to even (the default rounding mode), as std::lrint does,
// without its libm call: cvRound's instruction on x86.
inline int round_even(double v) {
#if defined(__SSE2__) || defined(_M_X64)
    return _mm_cvtsd_si32(_mm_set_sd(v));
#else
    return int(std::lrint(v));
#endif
}

void warp_scalar(const SrcImage& src, const double* M, int y, const OutSpec& s, int16_t* R, uint8_t* outside,
                 int x0, int x1) {
    // Each lane's byte offset within a source pixel, or -1 for a lane fed zero.
    ptrdiff_t co[4];
    for (int l = 0; l < s.L; ++l) co[l] = s.lane_src[l] < 0 ? -1 : ptrdiff_t(s.lane_src[l]) * src.cs;
    // Locals, not fields: the byte stores to outside[] may alias any field, which would force reloads.
    const uint8_t* d = src.data;
    const int L = s.L, sw = src.w, sh = src.h;
    const ptrdiff_t rs = src.rs, ps = src.ps;
    const double m0 = M[0], m1 = M[1], m2 = M[2], m3 = M[3], m4 = M[4], m5 = M[5], m6 = M[6], m7 = M[7], m8 = M[8];
    for (int x = x0; x < x1; ++x) {
        // Same arithmetic as OpenCV's warpPerspective: coordinates in 1/32 pixel.
        const double X0 = m0 * x + m1 * y + m2;
        const double Y0 = m3 * x + m4 * y + m5;
        double W = m6 * x + m7 * y + m8;
        W = W != 0.0 ? kTab / W : 0.0;
        const double fX = std::max(double(INT_MIN), std::min(double(INT_MAX), X0 * W));
        const double fY = std::max(double(INT_MIN), std::min(double(INT_MAX), Y0 * W));
        const int X = round_even(fX), Y = round_even(fY);
        const int sx = X >> kInterBits, sy = Y >> kInterBits;
        const int tx = X & (kTab - 1), ty = Y & (kTab - 1);
        int16_t* r = R + ptrdiff_t(x) * L;
        if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0) {
            outside[x] = 1;
            for (int l = 0; l < L; ++l) r[l] = 0;
            continue;
        }
        outside[x] = 0;
        const int w00 = (kTab - tx) * (kTab - ty) * kTab, w01 = tx * (kTab - ty) * kTab;
        const int w10 = (kTab - tx) * ty * kTab, w11 = tx * ty * kTab;
        // Offsets, not pointers: taps outside the image are never formed or read.
        const ptrdiff_t o00 = ptrdiff_t(sy) * rs + ptrdiff_t(sx) * ps;
        if (sx >= 0 && sx + 1 < sw && sy >= 0 && sy + 1 < sh) {
            // All four taps inside (nearly every pixel of a plate or a screen): no border tests.
            const uint8_t* p00 = d + o00;
            const uint8_t* p10 = p00 + rs;
            for (int l = 0; l < L; ++l) {
                const ptrdiff_t c = co[l];
                r[l] = c < 0 ? int16_t(0)
                             : int16_t((p00[c] * w00 + p00[ps + c] * w01 + p10[c] * w10 + p10[ps + c] * w11 +
                                        (1 << 14)) >> 15);
            }
            continue;
        }
        const bool in_x0 = sx >= 0 && sx < sw, in_x1 = sx + 1 >= 0 && sx + 1 < sw;
        const bool in_y0 = sy >= 0 && sy < sh, in_y1 = sy + 1 >= 0 && sy + 1 < sh;
        for (int l = 0; l < L; ++l) {
            const ptrdiff_t c = co[l];
            if (c < 0) {
                r[l] = 0;
                continue;
            }
            const int cval = s.pad_u8[l];
            const int v00 = in_y0 && in_x0 ? d[o00 + c] : cval;
            const int v01 = in_y0 && in_x1 ? d[o00 + ps + c] : cval;
            const int v10 = in_y1 && in_x0 ? d[o00 + rs + c] : cval;
            const int v11 = in_y1 && in_x1 ? d[o00 + rs + ps + c] : cval;
            r[l] = int16_t((v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11 + (1 << 14)) >> 15);
        }
    }
}

}  // namespace

bool warp_tap_mask(const SrcImage& src, const OutSpec& s, int8_t mask[16]) {
    if (s.L != 4 || src.cs != 1 || (src.ps != 3 && src.ps != 4) || 2 * src.ps + src.cn < 8) return false;
    for (int l = 0; l < 4; ++l) {
        const int c = s.lane_src[l];
        int8_t* q = mask + l * 4;
        q[1] = q[3] = int8_t(0x80);
        q[0] = c < 0 ? int8_t(0x80) : int8_t(c);
        q[2] = c < 0 ? int8_t(0x80) : int8_t(src.ps + c);
    }
    return true;
}

const RowFns& scalar_row_fns() {
    static const RowFns fns{hpass_scalar, hpass2_scalar, vpass_scalar, store_scalar, point_scalar, warp_scalar};
    return fns;
}

}  // namespace ev
