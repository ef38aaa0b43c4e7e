// NEON row functions for AArch64 (Advanced SIMD is mandatory there, so no
// run-time check is needed). 128-bit counterpart of rows_sse41.cpp with
// results identical to rows_scalar.cpp, bit for bit; ragged tails and the
// single-channel horizontal pass use the scalar code. hpass2 runs the 4-lane
// horizontal pass over two rows in one loop, sharing the tap-table loads.
//
// Notes on exactness (see tests/cpp/test_rows.cpp, run under qemu-aarch64 by
// scripts/check_cpp.sh):
//  * hpass: tap pairs come from one 16-byte table lookup (vqtbl1q_u8, index
//    0xFF gives 0) and are weighted with widening multiplies by the weight
//    lanes; the >> 4 narrows with truncation, exactly like the scalar
//    int16_t(... >> 4).
//  * vpass: (h*b) >> 16 is formed exactly by vmull + vshrn (no saturation,
//    unlike vqdmulh), and ((m0 + m1) + 2) >> 2 as a rounding shift of a
//    halving add, which cannot overflow int16 for any input.
//  * store: int16 -> int32 -> float is exact; multiply then add as two
//    separate operations (vmulq_f32, vaddq_f32; the build uses
//    -ffp-contract=off, so they are not fused into FMLA); float -> int rounds
//    to nearest even and saturates (vcvtnq_s32_f32, then saturating narrows),
//    which equals nearbyint + clamp to [0, 255] for every float, including
//    |v| >= 2^31 and +-inf; float16 via FCVTN, which rounds to nearest even
//    like float_to_half, NaNs quieted with their top payload bits kept (as
//    float_to_half and x86 F16C do).
//  * Interleaved (NHWC) stores use vst3/vst4, which write exactly C elements
//    per pixel. Unlike the x86 code there is no 4-element store per 3-channel
//    pixel, hence nothing spills into the next pixel and the vector loop may
//    run up to n for C == 3 as well.
#include <arm_neon.h>

#include "kernel.hpp"

namespace ev {
namespace {

const RowFns& S() { return scalar_row_fns(); }

// ---- horizontal pass ------------------------------------------------------

// Table-lookup masks for two pixels whose 8-byte loads form one 16-byte table
// (pixel x in bytes 0..7, pixel x+1 in bytes 8..15): m0 picks tap 0 of every
// lane as an int16 (low byte from the table, high byte index 0xFF -> 0), m1
// picks tap 1 (cn bytes further on). Returns false when a tap would lie outside
// the 8 loaded bytes (the caller then uses the scalar code).
bool tap_masks(const int8_t* lane_src, int cn, uint8x16_t* mask0, uint8x16_t* mask1) {
    alignas(16) uint8_t m0[16], m1[16];
    for (int p = 0; p < 2; ++p)
        for (int l = 0; l < 4; ++l) {
            const int c = lane_src[l];
            if (c >= 0 && (c >= cn || cn + c > 7)) return false;
            const int k = 2 * (p * 4 + l);
            m0[k] = c < 0 ? 0xFF : uint8_t(p * 8 + c);
            m1[k] = c < 0 ? 0xFF : uint8_t(p * 8 + cn + c);
            m0[k + 1] = m1[k + 1] = 0xFF;
        }
    *mask0 = vld1q_u8(m0);
    *mask1 = vld1q_u8(m1);
    return true;
}

// Pixels x, x+1 of one row (L = 4): 8 int16 results.
inline int16x8_t hpass_2px(const uint8_t* src, ptrdiff_t o0, ptrdiff_t o1, int16x4_t w, uint8x16_t mask0,
                           uint8x16_t mask1) {
    const uint8x16_t v = vcombine_u8(vld1_u8(src + o0), vld1_u8(src + o1));
    const int16x8_t t0 = vreinterpretq_s16_u8(vqtbl1q_u8(v, mask0));  // tap 0: px x lanes 0-3, px x+1 lanes 0-3
    const int16x8_t t1 = vreinterpretq_s16_u8(vqtbl1q_u8(v, mask1));  // tap 1
    int32x4_t lo = vmull_lane_s16(vget_low_s16(t0), w, 0);
    lo = vmlal_lane_s16(lo, vget_low_s16(t1), w, 1);
    int32x4_t hi = vmull_high_lane_s16(t0, w, 2);
    hi = vmlal_high_lane_s16(hi, t1, w, 3);
    // Truncating narrow, like the scalar int16_t(... >> 4).
    return vshrn_high_n_s32(vshrn_n_s32(lo, 4), hi, 4);
}

// L == 4 horizontal pass over NR (1 or 2) rows sharing the tap-table loads.
template <int NR>
void hpass4(const uint8_t* const* src, const HTable& t, const int8_t* lane_src, int16_t* const* D, int x0, int x1) {
    uint8x16_t mask0, mask1;
    int x = x0;
    if (tap_masks(lane_src, t.cn, &mask0, &mask1)) {
        const int32_t* ofs = t.ofs0.data();
        const int32_t* wts = t.wts.data();
        const int xs = x1 < t.simd_safe ? x1 : t.simd_safe;  // pixels below simd_safe may read (at least) 8 bytes at ofs0
        for (; x + 2 <= xs; x += 2) {
            // Little endian: lanes {a0(x), a1(x), a0(x+1), a1(x+1)}, as the scalar int16_t(w & 0xffff), w >> 16.
            const int16x4_t w = vreinterpret_s16_s32(vld1_s32(wts + x));
            const ptrdiff_t o0 = ofs[x], o1 = ofs[x + 1];
            for (int r = 0; r < NR; ++r) vst1q_s16(D[r] + x * 4, hpass_2px(src[r], o0, o1, w, mask0, mask1));
        }
    }
    if (x < x1)
        for (int r = 0; r < NR; ++r) S().hpass(src[r], t, lane_src, 4, D[r], x, x1);
}

void hpass_neon(const uint8_t* src, const HTable& t, const int8_t* lane_src, int L, int16_t* D, int x0, int x1) {
    if (L != 4) return S().hpass(src, t, lane_src, L, D, x0, x1);
    hpass4<1>(&src, t, lane_src, &D, x0, x1);
}

void hpass2_neon(const uint8_t* S0, const uint8_t* S1, const HTable& t, const int8_t* lane_src, int L, int16_t* D0,
                 int16_t* D1, int x0, int x1) {
    if (L != 4) return S().hpass2(S0, S1, t, lane_src, L, D0, D1, x0, x1);
    const uint8_t* const src[2] = {S0, S1};
    int16_t* const D[2] = {D0, D1};
    hpass4<2>(src, t, lane_src, D, x0, x1);
}

// ---- vertical pass --------------------------------------------------------

void vpass_neon(const int16_t* H0, const int16_t* H1, int16_t b0, int16_t b1, int16_t* R, int n) {
    const int16x4_t vb0 = vdup_n_s16(b0), vb1 = vdup_n_s16(b1);
    const int16x8_t qb0 = vdupq_n_s16(b0), qb1 = vdupq_n_s16(b1);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const int16x8_t h0 = vld1q_s16(H0 + i);
        const int16x8_t h1 = vld1q_s16(H1 + i);
        // (h * b) >> 16, exact: the products fit int32 and the shifted values fit int16.
        const int16x8_t p0 = vshrn_high_n_s32(vshrn_n_s32(vmull_s16(vget_low_s16(h0), vb0), 16),
                                              vmull_high_s16(h0, qb0), 16);
        const int16x8_t p1 = vshrn_high_n_s32(vshrn_n_s32(vmull_s16(vget_low_s16(h1), vb1), 16),
                                              vmull_high_s16(h1, qb1), 16);
        // (p0 + p1 + 2) >> 2 == ((p0 + p1) >> 1 + 1) >> 1, without int16 overflow.
        vst1q_s16(R + i, vrshrq_n_s16(vhaddq_s16(p0, p1), 1));
    }
    for (; i < n; ++i) R[i] = vblend(H0[i], H1[i], b0, b1);
}

// ---- store ----------------------------------------------------------------

// v * a + b for 4 int16 values: two roundings, as in store_scalar.
inline float32x4_t affine(int16x4_t v, float32x4_t A, float32x4_t B) {
    return vaddq_f32(vmulq_f32(vcvtq_f32_s32(vmovl_s16(v)), A), B);
}

// 8 values of one channel (8 consecutive pixels), converted to the output dtype.
template <DType DT>
struct Vals;
template <>
struct Vals<DType::F32> {
    float32x4_t lo, hi;
};
template <>
struct Vals<DType::F16> {
    uint16x8_t v;
};
template <>
struct Vals<DType::U8> {
    uint8x8_t v;
};

template <DType DT>
inline Vals<DT> convert(int16x8_t r, float a, float b) {
    const float32x4_t A = vdupq_n_f32(a), B = vdupq_n_f32(b);
    const float32x4_t lo = affine(vget_low_s16(r), A, B);
    const float32x4_t hi = affine(vget_high_s16(r), A, B);
    Vals<DT> out;
    if constexpr (DT == DType::F32) {
        out.lo = lo;
        out.hi = hi;
    } else if constexpr (DT == DType::F16) {
        // FCVTN: round to nearest even; NaNs become quiet with the top payload
        // bits kept, exactly as float_to_half (and x86 F16C) do.
        out.v = vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi));
    } else {
        // Round to nearest even, saturating to int32, int16, then [0, 255]: nearbyint + clamp.
        const int16x8_t s = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(lo)), vqmovn_s32(vcvtnq_s32_f32(hi)));
        out.v = vqmovun_s16(s);
    }
    return out;
}

// 8 pixels of one plane at element idx.
template <DType DT>
inline void put_plane(void* dst, ptrdiff_t idx, const Vals<DT>& v) {
    if constexpr (DT == DType::F32) {
        float* d = static_cast<float*>(dst) + idx;
        vst1q_f32(d, v.lo);
        vst1q_f32(d + 4, v.hi);
    } else if constexpr (DT == DType::F16) {
        vst1q_u16(static_cast<uint16_t*>(dst) + idx, v.v);
    } else {
        vst1_u8(static_cast<uint8_t*>(dst) + idx, v.v);
    }
}

// 8 pixels of C channels, interleaved, at pixel index px. Writes exactly 8 * C elements.
template <DType DT, int C>
inline void put_interleaved(void* dst, ptrdiff_t px, const Vals<DT>* v) {
    if constexpr (DT == DType::F32) {
        float* d = static_cast<float*>(dst) + px * C;
        if constexpr (C == 3) {
            vst3q_f32(d, float32x4x3_t{{v[0].lo, v[1].lo, v[2].lo}});
            vst3q_f32(d + 4 * C, float32x4x3_t{{v[0].hi, v[1].hi, v[2].hi}});
        } else {
            vst4q_f32(d, float32x4x4_t{{v[0].lo, v[1].lo, v[2].lo, v[3].lo}});
            vst4q_f32(d + 4 * C, float32x4x4_t{{v[0].hi, v[1].hi, v[2].hi, v[3].hi}});
        }
    } else if constexpr (DT == DType::F16) {
        uint16_t* d = static_cast<uint16_t*>(dst) + px * C;
        if constexpr (C == 3)
            vst3q_u16(d, uint16x8x3_t{{v[0].v, v[1].v, v[2].v}});
        else
            vst4q_u16(d, uint16x8x4_t{{v[0].v, v[1].v, v[2].v, v[3].v}});
    } else {
        uint8_t* d = static_cast<uint8_t*>(dst) + px * C;
        if constexpr (C == 3)
            vst3_u8(d, uint8x8x3_t{{v[0].v, v[1].v, v[2].v}});
        else
            vst4_u8(d, uint8x8x4_t{{v[0].v, v[1].v, v[2].v, v[3].v}});
    }
}

template <DType DT, bool NHWC, int C>
void store4(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    // vst3 writes 3 elements per pixel, so unlike the x86 code nothing spills
    // into pixel n and the loop may run to n for NHWC C == 3 too.
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const int16x8x4_t r = vld4q_s16(R + 4 * i);  // val[c]: lane c of pixels i..i+7
        Vals<DT> v[C];
        for (int c = 0; c < C; ++c) v[c] = convert<DT>(r.val[c], s.a[c], s.b[c]);
        const ptrdiff_t px = ptrdiff_t(x) + i;
        if constexpr (NHWC) {
            put_interleaved<DT, C>(dst, px, v);
        } else {
            for (int c = 0; c < C; ++c) put_plane<DT>(dst, c * plane + px, v[c]);
        }
    }
    if (i < n) S().store(R + 4 * i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store1(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    int i = 0;
    for (; i + 8 <= n; i += 8) put_plane<DT>(dst, ptrdiff_t(x) + i, convert<DT>(vld1q_s16(R + i), s.a[0], s.b[0]));
    if (i < n) S().store(R + i, n - i, s, dst, plane, x + i);
}

template <DType DT>
void store_dt(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    if (s.L == 1) return store1<DT>(R, n, s, dst, plane, x);
    if (s.L != 4) return S().store(R, n, s, dst, plane, x);
    if (s.C == 3) {
        if (s.nhwc) return store4<DT, true, 3>(R, n, s, dst, plane, x);
        return store4<DT, false, 3>(R, n, s, dst, plane, x);
    }
    if (s.C == 4) {
        if (s.nhwc) return store4<DT, true, 4>(R, n, s, dst, plane, x);
        return store4<DT, false, 4>(R, n, s, dst, plane, x);
    }
    return S().store(R, n, s, dst, plane, x);
}

void store_neon(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x) {
    switch (s.dtype) {
        case DType::F32: return store_dt<DType::F32>(R, n, s, dst, plane, x);
        case DType::F16: return store_dt<DType::F16>(R, n, s, dst, plane, x);
        case DType::U8: return store_dt<DType::U8>(R, n, s, dst, plane, x);
    }
}

}  // namespace

const RowFns& neon_row_fns() {
    // Start from the scalar table so that any row function without a NEON
    // version here stays correct; override by name, not by position.
    static const RowFns fns = [] {
        RowFns f = scalar_row_fns();
        f.hpass = hpass_neon;
        f.hpass2 = hpass2_neon;
        f.vpass = vpass_neon;
        f.store = store_neon;
        return f;
    }();
    return fns;
}

}  // namespace ev
