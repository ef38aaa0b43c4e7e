// SSE4.1 row functions (compiled with -msse4.1): 128-bit versions of the AVX2
// code for x86 CPUs without AVX2. Bit-exact with rows_scalar.cpp. Without F16C,
// float16 stores convert with the scalar helper; single-channel horizontal
// passes use the scalar code (no gather instruction).
#include <smmintrin.h>

#include <climits>
#include <cstring>

#include "kernel.hpp"

namespace ev {
namespace {

const RowFns& S() { return scalar_row_fns(); }

inline __m128i load8(const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }

void hpass_sse41(const uint8_t* src, const HTable& t, const int8_t* lane_src, int L, int16_t* D, int x0, int x1) {
    if (L != 4) return S().hpass(src, t, lane_src, L, D, x0, x1);
    alignas(16) int8_t m[16];
    for (int l = 0; l < 4; ++l) {
        const int c = lane_src[l];
        int8_t* q = m + l * 4;
        if (c < 0) {
            q[0] = q[1] = q[2] = q[3] = int8_t(0x80);
        } else {
            q[0] = int8_t(c);
            q[1] = int8_t(0x80);
            q[2] = int8_t(t.cn + c);
            q[3] = int8_t(0x80);
        }
    }
    const __m128i mask = _mm_load_si128(reinterpret_cast<const __m128i*>(m));
    const int32_t* ofs = t.ofs0.data();
    int x = x0;
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    for (; x + 2 <= xs; x += 2) {
        const __m128i v0 = _mm_shuffle_epi8(load8(src + ofs[x]), mask);
        const __m128i v1 = _mm_shuffle_epi8(load8(src + ofs[x + 1]), mask);
        const __m128i r0 = _mm_srai_epi32(_mm_madd_epi16(v0, _mm_set1_epi32(t.wts[x])), 4);
        const __m128i r1 = _mm_srai_epi32(_mm_madd_epi16(v1, _mm_set1_epi32(t.wts[x + 1])), 4);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(D + x * 4), _mm_packs_epi32(r0, r1));
    }
    if (x < x1) S().hpass(src, t, lane_src, 4, D, x, x1);
}

void hpass2_sse41(const uint8_t* S0, const uint8_t* S1, const HTable& t, const int8_t* lane_src, int L,
                  int16_t* D0, int16_t* D1, int x0, int x1) {
    hpass_sse41(S0, t, lane_src, L, D0, x0, x1);
    hpass_sse41(S1, t, lane_src, L, D1, x0, x1);
}

void point_sse41(const uint8_t* src, const HTable& t, const int8_t* lane_src, int L, int16_t* R, int x0, int x1) {
    if (L != 4) return S().point(src, t, lane_src, L, R, x0, x1);
    // lo: the lanes of the pixel at the window start, zero-extended into bytes 0-7; hi: into bytes 8-15.
    alignas(16) int8_t m[2][16];
    for (int l = 0; l < 4; ++l) {
        const int c = lane_src[l];
        for (int k = 0; k < 2; ++k) {
            m[k][(1 - k) * 8 + 2 * l] = m[k][(1 - k) * 8 + 2 * l + 1] = int8_t(0x80);
            m[k][k * 8 + 2 * l] = c < 0 ? int8_t(0x80) : int8_t(c);
            m[k][k * 8 + 2 * l + 1] = int8_t(0x80);
        }
    }
    const __m128i lo = _mm_load_si128(reinterpret_cast<const __m128i*>(m[0]));
    const __m128i hi = _mm_load_si128(reinterpret_cast<const __m128i*>(m[1]));
    const int32_t* ofs = t.ofs0.data();
    int x = x0;
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    for (; x + 2 <= xs; x += 2) {
        const __m128i a = _mm_shuffle_epi8(load8(src + ofs[x]), lo);
        const __m128i b = _mm_shuffle_epi8(load8(src + ofs[x + 1]), hi);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(R + x * 4), _mm_or_si128(a, b));
    }
    if (x < x1) S().point(src, t, lane_src, 4, R, x, x1);
}

void vpass_sse41(const int16_t* H0, const int16_t* H1, int16_t b0, int16_t b1, int16_t* R, int n) {
    const __m128i vb0 = _mm_set1_epi16(b0), vb1 = _mm_set1_epi16(b1), two = _mm_set1_epi16(2);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(H0 + i));
        const __m128i h1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(H1 + i));
        const __m128i r = _mm_add_epi16(_mm_mulhi_epi16(h0, vb0), _mm_mulhi_epi16(h1, vb1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(R + i), _mm_srai_epi16(_mm_add_epi16(r, two), 2));
    }
    for (; i < n; ++i) R[i] = vblend(H0[i], H1[i], b0, b1);
}

inline __m128 cvt4(__m128i v16) { return _mm_cvtepi32_ps(_mm_cvtepi16_epi32(v16)); }

// 4 values, pixels in order, to dtype DT at element idx.
template <DType DT>
inline void put4(void* dst, ptrdiff_t idx, __m128 v) {
    if (DT == DType::F32) {
        _mm_storeu_ps(static_cast<float*>(dst) + idx, v);
    } else if (DT == DType::F16) {
        alignas(16) float f[4];
        _mm_store_ps(f, v);
        uint16_t* d = static_cast<uint16_t*>(dst) + idx;
        for (int k = 0; k < 4; ++k) d[k] = float_to_half(f[k]);
    } else {
        // Clamp to [0, 255] first: cvtps overflows to INT_MIN; max returns 0 for NaN.
        __m128i i = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v, _mm_setzero_ps()), _mm_set1_ps(255.f)));
        i = _mm_packus_epi16(_mm_packs_epi32(i, i), _mm_setzero_si128());
        const int w = _mm_cvtsi128_si32(i);
        std::memcpy(static_cast<uint8_t*>(dst) + idx, &w, 4);
    }
}

template <DType DT, bool NHWC, int C>
void store4(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    const __m128 A = _mm_loadu_ps(s.a), B = _mm_loadu_ps(s.b);
    const int limit = (NHWC && C == 3) ? n - 1 : n;  // interleaved stores spill into the next pixel
    int i = 0;
    for (; i + 4 <= limit; i += 4) {
        const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(R + 4 * i));
        const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(R + 4 * i + 8));
        __m128 f0 = _mm_add_ps(_mm_mul_ps(cvt4(r0), A), B);
        __m128 f1 = _mm_add_ps(_mm_mul_ps(cvt4(_mm_srli_si128(r0, 8)), A), B);
        __m128 f2 = _mm_add_ps(_mm_mul_ps(cvt4(r1), A), B);
        __m128 f3 = _mm_add_ps(_mm_mul_ps(cvt4(_mm_srli_si128(r1, 8)), A), B);
        const ptrdiff_t px = x + i;
        if (NHWC) {
            put4<DT>(dst, (px + 0) * C, f0);
            put4<DT>(dst, (px + 1) * C, f1);
            put4<DT>(dst, (px + 2) * C, f2);
            put4<DT>(dst, (px + 3) * C, f3);
        } else {
            _MM_TRANSPOSE4_PS(f0, f1, f2, f3);
            put4<DT>(dst, px, f0);
            put4<DT>(dst, plane + px, f1);
            put4<DT>(dst, 2 * plane + px, f2);
            if (C == 4) put4<DT>(dst, 3 * plane + px, f3);
        }
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store1(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    const __m128 A = _mm_set1_ps(s.a[0]), B = _mm_set1_ps(s.b[0]);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128 f = cvt4(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(R + i)));
        put4<DT>(dst, x + i, _mm_add_ps(_mm_mul_ps(f, A), B));
    }
    if (i < n) S().store(R + i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store_dt(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    if (s.L == 1) return store1<DT>(R, n, s, dst, plane, x);
    if (s.C == 3) {
        if (s.nhwc) return store4<DT, true, 3>(R, n, s, dst, plane, x);
        return store4<DT, false, 3>(R, n, s, dst, plane, x);
    }
    if (s.nhwc) return store4<DT, true, 4>(R, n, s, dst, plane, x);
    return store4<DT, false, 4>(R, n, s, dst, plane, x);
}

void store_sse41(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    switch (s.dtype) {
        case DType::F32: return store_dt<DType::F32>(R, n, s, dst, plane, x);
        case DType::F16: return store_dt<DType::F16>(R, n, s, dst, plane, x);
        case DType::U8: return store_dt<DType::U8>(R, n, s, dst, plane, x);
    }
}

// Perspective warp (RowFns::warp), 2 pixels a step: their coordinates are the scalar code's
// double operations in the same order, two lanes wide; a pixel whose 4 taps lie inside the
// image (with a third column to spare, so that one 8-byte load per row covers both columns of
// taps) is sampled with one shuffle and one multiply-add per row. Every other pixel, and every
// source warp_tap_mask (kernel.hpp) turns down, goes to the scalar code.
void warp_sse41(const SrcImage& src, const double* M, int y, const OutSpec& s, int16_t* R, uint8_t* outside,
                int x0, int x1) {
    alignas(16) int8_t m[16];
    if (!warp_tap_mask(src, s, m)) return S().warp(src, M, y, s, R, outside, x0, x1);
    const __m128i mask = _mm_load_si128(reinterpret_cast<const __m128i*>(m));
    const __m128d m0 = _mm_set1_pd(M[0]), m3 = _mm_set1_pd(M[3]), m6 = _mm_set1_pd(M[6]);
    const __m128d m1y = _mm_set1_pd(M[1] * y), m4y = _mm_set1_pd(M[4] * y), m7y = _mm_set1_pd(M[7] * y);
    const __m128d m2 = _mm_set1_pd(M[2]), m5 = _mm_set1_pd(M[5]), m8 = _mm_set1_pd(M[8]);
    const __m128d tab = _mm_set1_pd(32.0), zero = _mm_setzero_pd();
    const __m128d hi = _mm_set1_pd(double(INT_MAX)), lo = _mm_set1_pd(double(INT_MIN));
    const __m128i half = _mm_set1_epi32(512);
    for (int x = x0; x < x1; x += 2) {
        const __m128d xv = _mm_set_pd(double(x + 1), double(x));
        const __m128d X0 = _mm_add_pd(_mm_add_pd(_mm_mul_pd(m0, xv), m1y), m2);
        const __m128d Y0 = _mm_add_pd(_mm_add_pd(_mm_mul_pd(m3, xv), m4y), m5);
        __m128d W = _mm_add_pd(_mm_add_pd(_mm_mul_pd(m6, xv), m7y), m8);
        W = _mm_and_pd(_mm_div_pd(tab, W), _mm_cmpneq_pd(W, zero));  // W != 0 ? 32 / W : 0 (NaN stays NaN)
        // min(v, hi) is v < hi ? v : hi and max(v, lo) is v > lo ? v : lo: std::min / std::max's
        // results in the scalar code, NaN included (it becomes INT_MAX).
        const __m128d fX = _mm_max_pd(_mm_min_pd(_mm_mul_pd(X0, W), hi), lo);
        const __m128d fY = _mm_max_pd(_mm_min_pd(_mm_mul_pd(Y0, W), hi), lo);
        alignas(16) int32_t xy[4];  // X(x), X(x + 1), Y(x), Y(x + 1), rounded to even as cvtsd2si
        _mm_store_si128(reinterpret_cast<__m128i*>(xy), _mm_unpacklo_epi64(_mm_cvtpd_epi32(fX), _mm_cvtpd_epi32(fY)));
        for (int k = 0; k < 2 && x + k < x1; ++k) {
            const int X = xy[k], Y = xy[2 + k];
            const int sx = X >> 5, sy = Y >> 5;
            if (sx < 0 || sx + 2 >= src.w || sy < 0 || sy + 1 >= src.h) {
                S().warp(src, M, y, s, R, outside, x + k, x + k + 1);
                continue;
            }
            const int tx = X & 31, ty = Y & 31;
            // The scalar weights over 32: the sum (p * w) * 32 + 2^14 >> 15 is (p * w) + 2^9 >> 10.
            const int w00 = (32 - tx) * (32 - ty), w01 = tx * (32 - ty), w10 = (32 - tx) * ty, w11 = tx * ty;
            const uint8_t* p00 = src.data + ptrdiff_t(sy) * src.rs + ptrdiff_t(sx) * src.ps;
            const __m128i top = _mm_madd_epi16(_mm_shuffle_epi8(load8(p00), mask), _mm_set1_epi32(w00 | (w01 << 16)));
            const __m128i bot =
                _mm_madd_epi16(_mm_shuffle_epi8(load8(p00 + src.rs), mask), _mm_set1_epi32(w10 | (w11 << 16)));
            const __m128i v = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(top, bot), half), 10);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(R + ptrdiff_t(x + k) * 4), _mm_packs_epi32(v, v));
            outside[x + k] = 0;
        }
    }
}

}  // namespace

const RowFns& sse41_row_fns() {
    static const RowFns fns{hpass_sse41, hpass2_sse41, vpass_sse41, store_sse41, point_sse41, warp_sse41};
    return fns;
}

}  // namespace ev
