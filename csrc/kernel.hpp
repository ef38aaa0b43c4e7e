// edgevision preprocessing kernel: shared types and the row-function table.
//
// Pipeline for one output row (libyuv style: every stage is a "row function"
// with a scalar reference and SIMD variants of identical signature):
//
//   source row(s) --hpass--> int16 "H" rows   (horizontal taps, OpenCV fixed point)
//   two H rows    --vpass--> int16 "R" row    (vertical blend, values 0..255)
//   R row         --store--> output row       ((u8 * a + b) per channel, f32/f16/u8, NCHW/NHWC)
//
// Intermediate rows use L lanes per pixel: L = 4 for 3- or 4-channel outputs
// (lane c holds output channel c, lane 3 is zero for 3 channels), L = 1 for
// single-channel outputs. Channel reordering (BGR->RGB, gray->3, dropping
// alpha) happens in the hpass through `lane_src`.
//
// Fixed point follows OpenCV's INTER_LINEAR for 8U exactly: 11-bit weights
// (INTER_RESIZE_COEF_BITS), horizontal sums stored as H >> 4 in int16, and the
// vertical blend ((h0*b0 >> 16) + (h1*b1 >> 16) + 2) >> 2. This reproduces
// cv2.resize bit for bit on OpenCV 4/5 x86 builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ev {

constexpr int kCoefBits = 11;
constexpr int kCoefScale = 1 << kCoefBits;
constexpr int kMaxSide = 32768;  // hard limit for any image or output side, pixels

enum class DType : int { F32 = 0, F16 = 1, U8 = 2 };
enum class Interp : int { Bilinear = 0, Nearest = 1 };
enum class Simd : int { Scalar = 0, SSE41 = 1, AVX2 = 2, NEON = 3 };

// A uint8 HWC image with arbitrary byte strides (row, pixel, channel).
struct SrcImage {
    const uint8_t* data = nullptr;
    int h = 0, w = 0, cn = 0;
    ptrdiff_t rs = 0, ps = 0, cs = 0;
    bool packed_row() const { return ps == cn && cs == 1; }
};

// How one image's output is written.
struct OutSpec {
    DType dtype = DType::F32;
    bool nhwc = false;
    int C = 3;                 // output channels: 1, 3 or 4
    int L = 4;                 // lanes per pixel in intermediate rows: 1 or 4
    int H = 0, W = 0;          // output height and width, pixels
    int8_t lane_src[4] = {0, 1, 2, -1};  // source channel feeding lane c, -1 = zero
    float a[4] = {1, 1, 1, 1};        // out = v * a[c] + b[c], v the uint8 pixel value
    float b[4] = {0, 0, 0, 0};
    float pad[4] = {0, 0, 0, 0};      // pad value, already through the affine map
    uint8_t pad_u8[4] = {0, 0, 0, 0}; // pad value in pixel units (warp taps outside)
    // uint8 output whose affine map leaves every channel's value as it is (a 1 and b 0, or a lane
    // fed zero with b 0): a store may then pack R's values (0..255) without the float round trip,
    // which gives the same bytes. Set by make_spec; the scalar store ignores it (the reference).
    bool u8_copy = false;
};

// Horizontal tap table for one (source width -> content width) pair.
struct HTable {
    int n = 0;                       // output (content) pixels
    int cn = 0;                      // source channels (byte distance between taps)
    std::vector<int32_t> ofs0;       // byte offset of tap 0 within a packed row (sx * cn)
    std::vector<int32_t> ofs1;       // byte offset of tap 1 (min(sx+1, w-1) * cn)
    std::vector<int32_t> wts;        // (a0 & 0xffff) | (a1 << 16), a0 + a1 == 2048
    // wts broadcast 4x per pixel, in groups of 4 pixels ordered x, x+2, x+1, x+3
    // (the order 4-lane SIMD kernels consume them in); length n rounded up to 4, x 4.
    std::vector<int32_t> wts4;
    int simd_safe = 0;               // pixels [0, simd_safe) may read 16 bytes from ofs0
    // Paired loads (AVX2): when every group of 4 pixels below simd_safe has the
    // taps of pixel x+1 (x+3) inside the 16 bytes loaded for pixel x (x+2),
    // pair_delta holds, per group, 16 copies of ofs[x+1]-ofs[x] then 16 of
    // ofs[x+3]-ofs[x+2]: added to a tap mask, they select pixel x+1's taps.
    bool paired = false;
    std::vector<int8_t> pair_delta;
    // Every pixel is a point sample (a0 == 2048, a1 == 0): nearest, and bilinear
    // at odd integer ratios (1920 -> 640) or clamped at the right border.
    bool point = false;
};

// Vertical tap table.
struct VTable {
    int n = 0;
    std::vector<int32_t> y0, y1;     // source rows (clamped)
    std::vector<int16_t> b0, b1;     // weights, b0 + b1 == 2048
};

HTable make_htable(int src_w, int dst_w, int cn, Interp interp, ptrdiff_t row_bytes);
VTable make_vtable(int src_h, int dst_h, Interp interp);

// Row functions. All lengths are in pixels unless stated otherwise.
struct RowFns {
    // D[x*L + l] = (S[ofs0[x] + src(l)]*a0 + S[ofs1[x] + src(l)]*a1) >> 4 for x in [x0, x1).
    void (*hpass)(const uint8_t* S, const HTable& t, const int8_t* lane_src, int L, int16_t* D,
                  int x0, int x1);
    // hpass on two source rows at once (shares the tap-table loads): D0 from S0, D1 from S1.
    void (*hpass2)(const uint8_t* S0, const uint8_t* S1, const HTable& t, const int8_t* lane_src, int L,
                   int16_t* D0, int16_t* D1, int x0, int x1);
    // R[i] = ((H0[i]*b0 >> 16) + (H1[i]*b1 >> 16) + 2) >> 2 for i in [0, n) (n in int16 elements).
    // Domain: H in [0, 32640], b0, b1 in [0, 2048] with b0 + b1 == 2048 (all the tables produce);
    // outside it 16-bit SIMD arithmetic may wrap and levels may differ.
    void (*vpass)(const int16_t* H0, const int16_t* H1, int16_t b0, int16_t b1, int16_t* R, int n);
    // Writes pixels [0, n) of R (L lanes each) to output pixels [x, x+n) of row `dst`.
    // dst points at the row start of plane 0 (NCHW) or at the row start (NHWC);
    // plane is the distance between planes in elements.
    void (*store)(const int16_t* R, int n, const OutSpec& s, void* dst, ptrdiff_t plane, int x);
    // R[x*L + l] = S[ofs0[x] + src(l)] (0 where src(l) < 0) for x in [x0, x1): the
    // point-sample shortcut. When the table is `point` and the row weights are
    // (2048, 0), hpass followed by vpass gives exactly these values
    // ((p*128 * 2048 >> 16) + 2) >> 2 == p), so the driver skips both.
    void (*point)(const uint8_t* S, const HTable& t, const int8_t* lane_src, int L, int16_t* R, int x0, int x1);
    // Perspective warp, output pixels [x0, x1) of output row y: R[x*L + l] = lane l's bilinear
    // sample at M (x, y, 1) (OpenCV's warpPerspective arithmetic: coordinates rounded to 1/32
    // pixel, weights in 1/1024, taps outside the image read s.pad_u8), and outside[x] = 1 where
    // no tap lies in the image (R is then 0 there and the driver writes the pad value).
    // Bit-exact across levels: the coordinates are the same double operations in the same
    // order (no FMA), the taps integer arithmetic.
    void (*warp)(const SrcImage& src, const double* M, int y, const OutSpec& s, int16_t* R, uint8_t* outside,
                 int x0, int x1);
};

// For the SIMD warps (RowFns::warp): whether this source and spec can be sampled with 8-byte loads
// (4 lanes; channels adjacent, pixels 3 or 4 bytes apart; each load at pixel sx stays inside the
// image when pixel sx + 2 exists, i.e. 2 ps + cn >= 8), and if so the pshufb mask that turns the 8
// bytes at pixel sx into lane l's (tap sx, tap sx + 1) as two int16 in its 32 bits (zero for a lane
// fed no channel). Defined once, in the scalar file (baseline instructions), for every level.
bool warp_tap_mask(const SrcImage& src, const OutSpec& s, int8_t mask[16]);

const RowFns& row_fns(Simd level);
const RowFns& scalar_row_fns();
#if defined(EV_HAVE_X86)
const RowFns& sse41_row_fns();
const RowFns& avx2_row_fns();
#endif
#if defined(EV_HAVE_NEON)
const RowFns& neon_row_fns();
#endif

// Run-time dispatch. The environment variable EDGEVISION_SIMD=scalar|sse41|avx2|neon
// caps the level at start-up; set_simd() changes it for tests.
Simd best_simd();            // best level this CPU and build support
Simd active_simd();
void set_simd(Simd level);   // throws std::invalid_argument if unsupported
const char* simd_name(Simd level);
bool parse_simd(const std::string& name, Simd* out);
std::vector<Simd> supported_simd();

// Scalar helpers shared by all levels.
uint16_t float_to_half(float f);
inline int16_t vblend(int16_t h0, int16_t h1, int16_t b0, int16_t b1) {
    int v = ((int32_t(h0) * b0) >> 16) + ((int32_t(h1) * b1) >> 16);
    return int16_t((v + 2) >> 2);
}

// ---- driver -------------------------------------------------------------

// Placement of one source image inside its output: content rectangle in output pixels.
struct Placement {
    int x0 = 0, y0 = 0, cw = 0, ch = 0;
};

struct ResizeJob {
    SrcImage src;
    Placement place;
    void* out = nullptr;    // start of this image's output tensor
};

// Resize + normalize + pad every job into its output. Up to `threads` threads
// split rows and images (fewer for small outputs: one per 64K output pixels).
void run_resize(const std::vector<ResizeJob>& jobs, const OutSpec& spec, Interp interp, int threads);

// Perspective warp: M maps output pixel index coordinates (x, y, 1) to source
// index coordinates (OpenCV's WARP_INVERSE_MAP convention), bilinear sampling
// with OpenCV's 1/32-pixel fixed point and constant border.
void run_warp(const SrcImage& src, const double M[9], void* out, const OutSpec& spec, int threads);

}  // namespace ev
