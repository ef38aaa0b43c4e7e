// AVX2 row functions (compiled with -mavx2 -mfma -mf16c). Identical results to
// rows_scalar.cpp, bit for bit; ragged tails fall back to the scalar code.
#include <immintrin.h>

#include <climits>
#include <cmath>
#include <cstring>

#include "kernel.hpp"

namespace ev {
namespace {

const RowFns& S() { return scalar_row_fns(); }

// pshufb mask turning 8 loaded bytes (pixel sx and sx+1) into 4 int16 pairs
// (tap0, tap1) per lane, replicated in both 128-bit halves.
inline __m256i tap_mask(const int8_t* lane_src, int cn) {
    alignas(32) int8_t m[32];
    for (int half = 0; half < 2; ++half)
        for (int l = 0; l < 4; ++l) {
            const int c = lane_src[l];
            int8_t* q = m + half * 16 + l * 4;
            if (c < 0) {
                q[0] = q[1] = q[2] = q[3] = int8_t(0x80);
            } else {
                q[0] = int8_t(c);
                q[1] = int8_t(0x80);
                q[2] = int8_t(cn + c);
                q[3] = int8_t(0x80);
            }
        }
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
}

inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

void hpass4(const uint8_t* src, const HTable& t, const int8_t* lane_src, int16_t* D, int x0, int x1) {
    const __m256i mask = tap_mask(lane_src, t.cn);
    const int32_t* ofs = t.ofs0.data();
    int x = x0 & ~3;
    if (x != x0) {  // groups of 4 start at multiples of 4 (the weight table's layout)
        const int e = x + 4 < x1 ? x + 4 : x1;
        S().hpass(src, t, lane_src, 4, D, x0, e);
        x = e;
    }
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    if (t.paired) {
        // One 16-byte window per pixel pair (see hpass4x2). Table pointers are
        // hoisted: stores to D could otherwise alias them and force reloads.
        const int32_t* wts4 = t.wts4.data();
        const int8_t* delta = t.pair_delta.data();
        for (; x + 4 <= xs; x += 4) {
            const __m256i* w = reinterpret_cast<const __m256i*>(wts4 + size_t(x) * 4);
            const __m256i mask13 = _mm256_add_epi8(
                mask, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(delta + size_t(x) * 8)));
            const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x])), load16(src + ofs[x + 2]), 1);
            const __m256i r02 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(v, mask), _mm256_loadu_si256(w)), 4);
            const __m256i r13 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(v, mask13), _mm256_loadu_si256(w + 1)), 4);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(D + x * 4), _mm256_packs_epi32(r02, r13));
        }
    }
    for (; x + 4 <= xs; x += 4) {
        // Halves hold pixels (x, x+2) and (x+1, x+3) so that packs_epi32 yields x..x+3 in order.
        const __m256i* w = reinterpret_cast<const __m256i*>(t.wts4.data() + size_t(x) * 4);
        __m256i v02 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x])), load16(src + ofs[x + 2]), 1);
        __m256i v13 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x + 1])), load16(src + ofs[x + 3]), 1);
        v02 = _mm256_shuffle_epi8(v02, mask);
        v13 = _mm256_shuffle_epi8(v13, mask);
        const __m256i r02 = _mm256_srai_epi32(_mm256_madd_epi16(v02, _mm256_loadu_si256(w)), 4);
        const __m256i r13 = _mm256_srai_epi32(_mm256_madd_epi16(v13, _mm256_loadu_si256(w + 1)), 4);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(D + x * 4), _mm256_packs_epi32(r02, r13));
    }
    if (x < x1) S().hpass(src, t, lane_src, 4, D, x, x1);
}

void hpass4x2(const uint8_t* s0, const uint8_t* s1, const HTable& t, const int8_t* lane_src, int16_t* D0,
              int16_t* D1, int x0, int x1) {
    const __m256i mask = tap_mask(lane_src, t.cn);
    const int32_t* ofs = t.ofs0.data();
    int x = x0 & ~3;
    if (x != x0) {
        const int e = x + 4 < x1 ? x + 4 : x1;
        S().hpass2(s0, s1, t, lane_src, 4, D0, D1, x0, e);
        x = e;
    }
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    if (t.paired) {
        // One 16-byte window per pixel pair: the mask plus the pair's byte delta
        // picks the second pixel's taps from the same load.
        const int32_t* wts4 = t.wts4.data();
        const int8_t* delta = t.pair_delta.data();
        for (; x + 4 <= xs; x += 4) {
            const __m256i* w = reinterpret_cast<const __m256i*>(wts4 + size_t(x) * 4);
            const __m256i w02 = _mm256_loadu_si256(w), w13 = _mm256_loadu_si256(w + 1);
            const __m256i mask13 = _mm256_add_epi8(
                mask, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(delta + size_t(x) * 8)));
            const ptrdiff_t o0 = ofs[x], o2 = ofs[x + 2];
            const __m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s0 + o0)), load16(s0 + o2), 1);
            const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s1 + o0)), load16(s1 + o2), 1);
            const __m256i a02 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(a, mask), w02), 4);
            const __m256i a13 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(a, mask13), w13), 4);
            const __m256i b02 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(b, mask), w02), 4);
            const __m256i b13 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(b, mask13), w13), 4);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(D0 + x * 4), _mm256_packs_epi32(a02, a13));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(D1 + x * 4), _mm256_packs_epi32(b02, b13));
        }
    }
    for (; x + 4 <= xs; x += 4) {
        const __m256i* w = reinterpret_cast<const __m256i*>(t.wts4.data() + size_t(x) * 4);
        const __m256i w02 = _mm256_loadu_si256(w), w13 = _mm256_loadu_si256(w + 1);
        const ptrdiff_t o0 = ofs[x], o1 = ofs[x + 1], o2 = ofs[x + 2], o3 = ofs[x + 3];
        __m256i a02 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s0 + o0)), load16(s0 + o2), 1);
        __m256i a13 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s0 + o1)), load16(s0 + o3), 1);
        __m256i b02 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s1 + o0)), load16(s1 + o2), 1);
        __m256i b13 = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(s1 + o1)), load16(s1 + o3), 1);
        a02 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(a02, mask), w02), 4);
        a13 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(a13, mask), w13), 4);
        b02 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(b02, mask), w02), 4);
        b13 = _mm256_srai_epi32(_mm256_madd_epi16(_mm256_shuffle_epi8(b13, mask), w13), 4);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(D0 + x * 4), _mm256_packs_epi32(a02, a13));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(D1 + x * 4), _mm256_packs_epi32(b02, b13));
    }
    if (x < x1) S().hpass2(s0, s1, t, lane_src, 4, D0, D1, x, x1);
}

void hpass1(const uint8_t* src, const HTable& t, const int8_t* lane_src, int16_t* D, int x0, int x1) {
    // Single channel: gather 4 bytes at each tap-0 offset, keep bytes 0 and 1 as an int16 pair.
    const __m256i mask = _mm256_setr_epi8(0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128,
                                          0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128);
    int x = x0;
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    if (t.cn == 1 && lane_src[0] == 0) {
        for (; x + 16 <= xs; x += 16) {
            __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.ofs0.data() + x));
            __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.ofs0.data() + x + 8));
            __m256i g0 = _mm256_i32gather_epi32(reinterpret_cast<const int*>(src), i0, 1);
            __m256i g1 = _mm256_i32gather_epi32(reinterpret_cast<const int*>(src), i1, 1);
            g0 = _mm256_shuffle_epi8(g0, mask);
            g1 = _mm256_shuffle_epi8(g1, mask);
            __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.wts.data() + x));
            __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.wts.data() + x + 8));
            __m256i r0 = _mm256_srai_epi32(_mm256_madd_epi16(g0, w0), 4);
            __m256i r1 = _mm256_srai_epi32(_mm256_madd_epi16(g1, w1), 4);
            __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0xD8);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(D + x), p);
        }
    }
    if (x < x1) S().hpass(src, t, lane_src, 1, D, x, x1);
}

void hpass_avx2(const uint8_t* src, const HTable& t, const int8_t* lane_src, int L, int16_t* D, int x0, int x1) {
    if (L == 4)
        hpass4(src, t, lane_src, D, x0, x1);
    else
        hpass1(src, t, lane_src, D, x0, x1);
}

void hpass2_avx2(const uint8_t* S0, const uint8_t* S1, const HTable& t, const int8_t* lane_src, int L,
                 int16_t* D0, int16_t* D1, int x0, int x1) {
    if (L == 4) return hpass4x2(S0, S1, t, lane_src, D0, D1, x0, x1);
    hpass1(S0, t, lane_src, D0, x0, x1);
    hpass1(S1, t, lane_src, D1, x0, x1);
}

// pshufb masks for the point-sample gather: `lo` zero-extends the lanes of the
// pixel at the start of each 128-bit half into bytes 0-7, `hi` into bytes 8-15.
inline void point_masks(const int8_t* lane_src, __m256i* lo, __m256i* hi) {
    alignas(32) int8_t m[2][32];
    for (int half = 0; half < 2; ++half)
        for (int l = 0; l < 4; ++l) {
            const int c = lane_src[l];
            for (int k = 0; k < 2; ++k) {  // k = 0: mask lo, 1: mask hi
                int8_t* q = m[k] + half * 16;
                q[(1 - k) * 8 + 2 * l] = q[(1 - k) * 8 + 2 * l + 1] = int8_t(0x80);
                q[k * 8 + 2 * l] = c < 0 ? int8_t(0x80) : int8_t(c);
                q[k * 8 + 2 * l + 1] = int8_t(0x80);
            }
        }
    *lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(m[0]));
    *hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(m[1]));
}

void point4(const uint8_t* src, const HTable& t, const int8_t* lane_src, int16_t* R, int x0, int x1) {
    __m256i lo, hi;
    point_masks(lane_src, &lo, &hi);
    const int32_t* ofs = t.ofs0.data();
    int x = x0;
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    if (t.paired && (x & 3) == 0) {
        // Pixels x+1 and x+3 come from the windows loaded for x and x+2 (see hpass4x2).
        const int8_t* delta = t.pair_delta.data();
        for (; x + 4 <= xs; x += 4) {
            const __m256i hi13 =
                _mm256_add_epi8(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(delta + size_t(x) * 8)));
            const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x])), load16(src + ofs[x + 2]), 1);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(R + x * 4),
                                _mm256_or_si256(_mm256_shuffle_epi8(v, lo), _mm256_shuffle_epi8(v, hi13)));
        }
    }
    for (; x + 4 <= xs; x += 4) {
        const __m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x])), load16(src + ofs[x + 2]), 1);
        const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(src + ofs[x + 1])), load16(src + ofs[x + 3]), 1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(R + x * 4),
                            _mm256_or_si256(_mm256_shuffle_epi8(a, lo), _mm256_shuffle_epi8(b, hi)));
    }
    if (x < x1) S().point(src, t, lane_src, 4, R, x, x1);
}

void point1(const uint8_t* src, const HTable& t, const int8_t* lane_src, int16_t* R, int x0, int x1) {
    int x = x0;
    const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;
    if (t.cn == 1 && lane_src[0] == 0) {
        const __m256i byte = _mm256_set1_epi32(0xff);
        for (; x + 16 <= xs; x += 16) {
            const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.ofs0.data() + x));
            const __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.ofs0.data() + x + 8));
            const __m256i g0 = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(src), i0, 1), byte);
            const __m256i g1 = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(src), i1, 1), byte);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(R + x),
                                _mm256_permute4x64_epi64(_mm256_packs_epi32(g0, g1), 0xD8));
        }
    }
    if (x < x1) S().point(src, t, lane_src, 1, R, x, x1);
}

void point_avx2(const uint8_t* src, const HTable& t, const int8_t* lane_src, int L, int16_t* R, int x0, int x1) {
    if (L == 4)
        point4(src, t, lane_src, R, x0, x1);
    else
        point1(src, t, lane_src, R, x0, x1);
}

void vpass_avx2(const int16_t* H0, const int16_t* H1, int16_t b0, int16_t b1, int16_t* R, int n) {
    const __m256i vb0 = _mm256_set1_epi16(b0), vb1 = _mm256_set1_epi16(b1), two = _mm256_set1_epi16(2);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(H0 + i));
        __m256i h1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(H1 + i));
        __m256i r = _mm256_add_epi16(_mm256_mulhi_epi16(h0, vb0), _mm256_mulhi_epi16(h1, vb1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(R + i), _mm256_srai_epi16(_mm256_add_epi16(r, two), 2));
    }
    for (; i < n; ++i) R[i] = vblend(H0[i], H1[i], b0, b1);
}

// ---- store ----------------------------------------------------------------

// [0, 255] before float->int conversion (which overflows to INT_MIN); max returns 0 for NaN.
inline __m256 clamp255(__m256 v) {
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.f));
}

inline __m256 cvt8(__m128i v16) { return _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(v16)); }

// 8 values of one plane, pixels in order, to dtype DT.
template <DType DT>
inline void put8(void* dst, ptrdiff_t idx, __m256 v) {
    if (DT == DType::F32) {
        _mm256_storeu_ps(static_cast<float*>(dst) + idx, v);
    } else if (DT == DType::F16) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(dst) + idx),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    } else {
        __m256i i = _mm256_cvtps_epi32(clamp255(v));
        __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(dst) + idx), _mm_packus_epi16(p, p));
    }
}

// Two pixels (4 lanes each, one per 128-bit half) to interleaved output at pixel index px.
// Writes 4 elements per pixel; with C == 3 the 4th spills into the next pixel,
// which the caller guarantees is written afterwards.
template <DType DT, int C>
inline void put2_interleaved(void* dst, ptrdiff_t px, __m256 v) {
    if (DT == DType::F32) {
        float* d = static_cast<float*>(dst) + px * C;
        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
        _mm_storeu_ps(d + C, _mm256_extractf128_ps(v, 1));
    } else if (DT == DType::F16) {
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        uint16_t* d = static_cast<uint16_t*>(dst) + px * C;
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d), h);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + C), _mm_unpackhi_epi64(h, h));
    } else {
        __m256i i = _mm256_cvtps_epi32(clamp255(v));
        __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        p = _mm_packus_epi16(p, p);
        uint8_t* d = static_cast<uint8_t*>(dst) + px * C;
        const int lo = _mm_cvtsi128_si32(p), hi = _mm_extract_epi32(p, 1);
        std::memcpy(d, &lo, 4);
        std::memcpy(d + C, &hi, 4);
    }
}

// 8 pixels of 4 int16 lanes (R, pixel-major) -> c01 = [c0 p0..p7 | c1 p0..p7], c23 = [c2 p0..p7 | c3 p0..p7].
inline void deinterleave8(const int16_t* R, __m256i& c01, __m256i& c23) {
    // Within each 128-bit half, [p0c0 p0c1 p0c2 p0c3 p1c0 ...] -> [p0c0 p1c0 | p0c1 p1c1 | p0c2 p1c2 | p0c3 p1c3].
    const __m256i pairs = _mm256_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
                                           0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i r0 = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(R)), pairs);
    const __m256i r1 = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + 16)), pairs);
    // [c0(p0p1) c0(p4p5) c1(p0p1) c1(p4p5) | c0(p2p3) c0(p6p7) c1(p2p3) c1(p6p7)] -> [c0 p0..p7 | c1 p0..p7]
    c01 = _mm256_permutevar8x32_epi32(_mm256_unpacklo_epi32(r0, r1), order);
    c23 = _mm256_permutevar8x32_epi32(_mm256_unpackhi_epi32(r0, r1), order);
}

// Planar (NCHW) stores: deinterleave 8 pixels x 4 lanes in the int16 domain, then
// convert one plane (8 values) at a time.
template <DType DT, int C>
void store4_planar(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    __m256 A[4], B[4];
    for (int c = 0; c < 4; ++c) {
        A[c] = _mm256_set1_ps(s.a[c]);
        B[c] = _mm256_set1_ps(s.b[c]);
    }
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i c01, c23;
        deinterleave8(R + 4 * i, c01, c23);
        const ptrdiff_t px = x + i;
        put8<DT>(dst, px, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_castsi256_si128(c01)), A[0]), B[0]));
        put8<DT>(dst, plane + px,
                         _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_extracti128_si256(c01, 1)), A[1]), B[1]));
        put8<DT>(dst, 2 * plane + px,
                         _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_castsi256_si128(c23)), A[2]), B[2]));
        if (C == 4)
            put8<DT>(dst, 3 * plane + px,
                             _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_extracti128_si256(c23, 1)), A[3]), B[3]));
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

// Interleaved (NHWC) stores: pixels stay in their 4-lane form.
template <DType DT, int C>
void store4_interleaved(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    const __m256 A = _mm256_setr_ps(s.a[0], s.a[1], s.a[2], s.a[3], s.a[0], s.a[1], s.a[2], s.a[3]);
    const __m256 B = _mm256_setr_ps(s.b[0], s.b[1], s.b[2], s.b[3], s.b[0], s.b[1], s.b[2], s.b[3]);
    // 3-channel pixels are written 4 elements at a time; the 4th spills into the
    // following pixel, which must therefore still be to come.
    const int limit = C == 3 ? n - 1 : n;
    int i = 0;
    for (; i + 8 <= limit; i += 8) {
        const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + 4 * i));
        const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + 4 * i + 16));
        const ptrdiff_t px = x + i;
        put2_interleaved<DT, C>(dst, px + 0, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_castsi256_si128(r0)), A), B));
        put2_interleaved<DT, C>(dst, px + 2, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_extracti128_si256(r0, 1)), A), B));
        put2_interleaved<DT, C>(dst, px + 4, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_castsi256_si128(r1)), A), B));
        put2_interleaved<DT, C>(dst, px + 6, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm256_extracti128_si256(r1, 1)), A), B));
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store1(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    const __m256 A = _mm256_set1_ps(s.a[0]), B = _mm256_set1_ps(s.b[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f = cvt8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(R + i)));
        put8<DT>(dst, x + i, _mm256_add_ps(_mm256_mul_ps(f, A), B));
    }
    if (i < n) S().store(R + i, n - i, s, dst, plane, x + i);
}

// uint8 stores of an identity map (OutSpec::u8_copy): R's values are the output bytes.
// Interleaved 4 channels: 8 pixels (32 int16) -> 32 bytes, one pack and one lane fix-up.
void copy4_interleaved(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    uint8_t* d = static_cast<uint8_t*>(dst) + ptrdiff_t(x) * 4;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + 4 * i));
        const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + 4 * i + 16));
        // packus works per 128-bit half: [r0 p0-1 | r1 p4-5 | r0 p2-3 | r1 p6-7] -> pixel order
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi16(r0, r1), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 4 * i), p);
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

// Planar 3 or 4 channels: deinterleave8, then 8 bytes a plane.
template <int C>
void copy4_planar(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    uint8_t* d = static_cast<uint8_t*>(dst) + x;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i c01, c23;
        deinterleave8(R + 4 * i, c01, c23);
        // [c0 | c2 | c1 | c3], 8 bytes each
        const __m256i b = _mm256_packus_epi16(c01, c23);
        const __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + i), lo);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + plane + i), hi);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + 2 * plane + i), _mm_unpackhi_epi64(lo, lo));
        if (C == 4) _mm_storel_epi64(reinterpret_cast<__m128i*>(d + 3 * plane + i), _mm_unpackhi_epi64(hi, hi));
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store_dt(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    if (s.L == 1) return store1<DT>(R, n, s, dst, plane, x);
    if (DT == DType::U8 && s.u8_copy) {
        if (s.nhwc && s.C == 4) return copy4_interleaved(R, n, s, dst, plane, x);
        if (!s.nhwc) return s.C == 3 ? copy4_planar<3>(R, n, s, dst, plane, x) : copy4_planar<4>(R, n, s, dst, plane, x);
    }
    if (s.nhwc) {
        if (s.C == 3) return store4_interleaved<DT, 3>(R, n, s, dst, plane, x);
        return store4_interleaved<DT, 4>(R, n, s, dst, plane, x);
    }
    if (s.C == 3) return store4_planar<DT, 3>(R, n, s, dst, plane, x);
    return store4_planar<DT, 4>(R, n, s, dst, plane, x);
}

void store_avx2(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    switch (s.dtype) {
        case DType::F32: return store_dt<DType::F32>(R, n, s, dst, plane, x);
        case DType::F16: return store_dt<DType::F16>(R, n, s, dst, plane, x);
        case DType::U8: return store_dt<DType::U8>(R, n, s, dst, plane, x);
    }
}

// Perspective warp (RowFns::warp), 4 pixels a step. The coordinates are the scalar code's double
// operations in the same order, four lanes wide (no FMA: the build passes -ffp-contract=off), and
// the integer part (source pixel, 1/32 fractions, the four weights packed in pairs, whether the
// taps are inside) is computed for the 4 pixels at once; each pixel whose taps lie inside the
// image with a third column to spare is then sampled with one 8-byte load, one shuffle and one
// multiply-add per row (warp_tap_mask, kernel.hpp, says where the loads stay in the image). Other
// pixels, and the sources it turns down, go to the scalar code.
void warp_avx2(const SrcImage& src, const double* M, int y, const OutSpec& s, int16_t* R, uint8_t* outside,
               int x0, int x1) {
    alignas(16) int8_t m[16];
    if (!warp_tap_mask(src, s, m)) return S().warp(src, M, y, s, R, outside, x0, x1);
    const __m128i mask = _mm_load_si128(reinterpret_cast<const __m128i*>(m));
    const __m256d m0 = _mm256_set1_pd(M[0]), m3 = _mm256_set1_pd(M[3]), m6 = _mm256_set1_pd(M[6]);
    const __m256d m1y = _mm256_set1_pd(M[1] * y), m4y = _mm256_set1_pd(M[4] * y), m7y = _mm256_set1_pd(M[7] * y);
    const __m256d m2 = _mm256_set1_pd(M[2]), m5 = _mm256_set1_pd(M[5]), m8 = _mm256_set1_pd(M[8]);
    const __m256d tab = _mm256_set1_pd(32.0), zero = _mm256_setzero_pd();
    const __m256d hi = _mm256_set1_pd(double(INT_MAX)), lo = _mm256_set1_pd(double(INT_MIN));
    const __m128i k31 = _mm_set1_epi32(31), k32 = _mm_set1_epi32(32), minus1 = _mm_set1_epi32(-1);
    const __m128i wmax = _mm_set1_epi32(src.w - 2), hmax = _mm_set1_epi32(src.h - 1);
    const __m128i half = _mm_set1_epi32(512);
    const uint8_t* d = src.data;
    const ptrdiff_t rs = src.rs, ps = src.ps;
    __m256d xv = _mm256_set_pd(double(x0 + 3), double(x0 + 2), double(x0 + 1), double(x0));
    const __m256d four = _mm256_set1_pd(4.0);  // x + 4 is exact: x < 2^15
    for (int x = x0; x < x1; x += 4, xv = _mm256_add_pd(xv, four)) {
        const __m256d X0 = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m0, xv), m1y), m2);
        const __m256d Y0 = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m3, xv), m4y), m5);
        __m256d W = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m6, xv), m7y), m8);
        W = _mm256_and_pd(_mm256_div_pd(tab, W), _mm256_cmp_pd(W, zero, _CMP_NEQ_UQ));  // W != 0 ? 32 / W : 0
        // min(v, hi) is v < hi ? v : hi and max(v, lo) is v > lo ? v : lo: the scalar code's
        // std::min / std::max, NaN included (it becomes INT_MAX).
        const __m128i X = _mm256_cvtpd_epi32(_mm256_max_pd(_mm256_min_pd(_mm256_mul_pd(X0, W), hi), lo));
        const __m128i Y = _mm256_cvtpd_epi32(_mm256_max_pd(_mm256_min_pd(_mm256_mul_pd(Y0, W), hi), lo));
        const __m128i sx = _mm_srai_epi32(X, 5), sy = _mm_srai_epi32(Y, 5);
        const __m128i tx = _mm_and_si128(X, k31), ty = _mm_and_si128(Y, k31);
        const __m128i ux = _mm_sub_epi32(k32, tx), uy = _mm_sub_epi32(k32, ty);
        // Weights over 32 (at most 1024: 16-bit products suffice), packed (w00, w01) and (w10, w11).
        const __m128i top = _mm_or_si128(_mm_mullo_epi16(ux, uy), _mm_slli_epi32(_mm_mullo_epi16(tx, uy), 16));
        const __m128i bot = _mm_or_si128(_mm_mullo_epi16(ux, ty), _mm_slli_epi32(_mm_mullo_epi16(tx, ty), 16));
        // Inside with a column to spare: 0 <= sx < w - 2 and 0 <= sy < h - 1.
        const __m128i in = _mm_and_si128(
            _mm_and_si128(_mm_cmpgt_epi32(sx, minus1), _mm_cmpgt_epi32(wmax, sx)),
            _mm_and_si128(_mm_cmpgt_epi32(sy, minus1), _mm_cmpgt_epi32(hmax, sy)));
        alignas(16) int32_t a_sx[4], a_sy[4], a_top[4], a_bot[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(a_sx), sx);
        _mm_store_si128(reinterpret_cast<__m128i*>(a_sy), sy);
        _mm_store_si128(reinterpret_cast<__m128i*>(a_top), top);
        _mm_store_si128(reinterpret_cast<__m128i*>(a_bot), bot);
        const int inside = _mm_movemask_ps(_mm_castsi128_ps(in));
        const int n = x1 - x < 4 ? x1 - x : 4;
        for (int k = 0; k < n; ++k) {
            if (!(inside >> k & 1)) {
                S().warp(src, M, y, s, R, outside, x + k, x + k + 1);
                continue;
            }
            const uint8_t* p00 = d + ptrdiff_t(a_sy[k]) * rs + ptrdiff_t(a_sx[k]) * ps;
            const __m128i t = _mm_madd_epi16(_mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p00)), mask),
                                             _mm_set1_epi32(a_top[k]));
            const __m128i b = _mm_madd_epi16(
                _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p00 + rs)), mask),
                _mm_set1_epi32(a_bot[k]));
            const __m128i v = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(t, b), half), 10);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(R + ptrdiff_t(x + k) * 4), _mm_packs_epi32(v, v));
            outside[x + k] = 0;
        }
    }
}

}  // namespace

const RowFns& avx2_row_fns() {
    static const RowFns fns{hpass_avx2, hpass2_avx2, vpass_avx2, store_avx2, point_avx2, warp_avx2};
    return fns;
}

}  // namespace ev
