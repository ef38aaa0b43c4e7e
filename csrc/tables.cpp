// Tap tables, computed exactly as OpenCV's resizeGeneric (INTER_LINEAR) and
// the exact pixel-centre nearest rule, so that bilinear reproduces cv2.resize. Pixel-centre convention: output pixel dx samples the
// source at (dx + 0.5) * src/dst - 0.5.
#include <algorithm>
#include <cmath>

#include "kernel.hpp"

namespace ev {
namespace {

inline int16_t round_coef(float v) {
    // saturate_cast<short>(float): round half to even, then clamp.
    long r = std::lrint(v);
    return int16_t(std::min<long>(32767, std::max<long>(-32768, r)));
}

// OpenCV's cvFloor for float.
inline int floor_f(float v) {
    int i = int(v);
    return i - (float(i) > v);
}

// Pixel-centre nearest neighbour, exact in integers: the source pixel that
// contains the point (d + 0.5) * src / dst, i.e. floor((2d + 1) * src / (2 dst)).
// (Pillow's rule. OpenCV 4's INTER_NEAREST_EXACT uses 16-bit fixed point and
// OpenCV 5's IPP path rounds exact ties differently; both agree away from ties.)
inline int nearest_index(int d, int src, int dst) {
    const int64_t s = ((2 * int64_t(d) + 1) * src) / (2 * int64_t(dst));
    return int(s < src - 1 ? s : src - 1);
}

}  // namespace

HTable make_htable(int src_w, int dst_w, int cn, Interp interp, ptrdiff_t row_bytes) {
    HTable t;
    t.n = dst_w;
    t.cn = cn;
    t.ofs0.resize(dst_w);
    t.ofs1.resize(dst_w);
    t.wts.resize(dst_w);
    if (interp == Interp::Nearest) {
        for (int x = 0; x < dst_w; ++x) {
            const int sx = nearest_index(x, src_w, dst_w);
            t.ofs0[x] = sx * cn;
            t.ofs1[x] = sx * cn;
            t.wts[x] = kCoefScale;  // a0 = 2048, a1 = 0
        }
    } else {
        const double scale_x = 1.0 / (double(dst_w) / src_w);
        for (int dx = 0; dx < dst_w; ++dx) {
            float fx = float((dx + 0.5) * scale_x - 0.5);
            int sx = floor_f(fx);
            fx -= float(sx);
            if (sx < 0) { fx = 0.f; sx = 0; }
            if (sx >= src_w - 1) { fx = 0.f; sx = src_w - 1; }
            const int16_t a0 = round_coef((1.f - fx) * kCoefScale);
            const int16_t a1 = round_coef(fx * kCoefScale);
            t.ofs0[dx] = sx * cn;
            t.ofs1[dx] = std::min(sx + 1, src_w - 1) * cn;
            t.wts[dx] = int32_t(uint16_t(a0)) | (int32_t(a1) << 16);
        }
    }
    t.point = std::all_of(t.wts.begin(), t.wts.end(), [](int32_t w) { return w == kCoefScale; });
    const int groups = (dst_w + 3) / 4;
    t.wts4.assign(size_t(groups) * 16, 0);
    static const int kOrder[4] = {0, 2, 1, 3};
    for (int g = 0; g < groups; ++g)
        for (int k = 0; k < 4; ++k) {
            const int x = g * 4 + kOrder[k];
            for (int r = 0; r < 4; ++r) t.wts4[size_t(g) * 16 + k * 4 + r] = x < dst_w ? t.wts[x] : 0;
        }
    // SIMD kernels read up to 16 bytes starting at ofs0 and take tap 1 at
    // ofs0 + cn. That is valid while the read stays inside the row and tap 1
    // really is at ofs0 + cn (or has zero weight).
    int safe = 0;
    while (safe < dst_w && t.ofs0[safe] + 16 <= row_bytes &&
           (t.ofs1[safe] == t.ofs0[safe] + cn || (t.wts[safe] >> 16) == 0))
        ++safe;
    t.simd_safe = safe;
    // Taps of the second pixel of a pair span bytes [d, d + 2*cn) of the window.
    const int groups_safe = safe / 4;
    bool paired = groups_safe > 0;
    for (int g = 0; g < groups_safe && paired; ++g) {
        const int x = g * 4;
        paired = t.ofs0[x + 1] - t.ofs0[x] + 2 * cn <= 16 && t.ofs0[x + 3] - t.ofs0[x + 2] + 2 * cn <= 16;
    }
    t.paired = paired;
    if (paired) {
        t.pair_delta.resize(size_t(groups_safe) * 32);
        for (int g = 0; g < groups_safe; ++g) {
            const int x = g * 4;
            for (int k = 0; k < 16; ++k) {
                t.pair_delta[size_t(g) * 32 + k] = int8_t(t.ofs0[x + 1] - t.ofs0[x]);
                t.pair_delta[size_t(g) * 32 + 16 + k] = int8_t(t.ofs0[x + 3] - t.ofs0[x + 2]);
            }
        }
    }
    return t;
}

VTable make_vtable(int src_h, int dst_h, Interp interp) {
    VTable t;
    t.n = dst_h;
    t.y0.resize(dst_h);
    t.y1.resize(dst_h);
    t.b0.resize(dst_h);
    t.b1.resize(dst_h);
    if (interp == Interp::Nearest) {
        for (int y = 0; y < dst_h; ++y) {
            const int sy = nearest_index(y, src_h, dst_h);
            t.y0[y] = t.y1[y] = sy;
            t.b0[y] = kCoefScale;
            t.b1[y] = 0;
        }
        return t;
    }
    const double scale_y = 1.0 / (double(dst_h) / src_h);
    for (int dy = 0; dy < dst_h; ++dy) {
        float fy = float((dy + 0.5) * scale_y - 0.5);
        int sy = floor_f(fy);
        fy -= float(sy);
        // OpenCV clamps the rows but keeps the weights at the vertical borders.
        t.y0[dy] = std::min(std::max(sy, 0), src_h - 1);
        t.y1[dy] = std::min(std::max(sy + 1, 0), src_h - 1);
        t.b0[dy] = round_coef((1.f - fy) * kCoefScale);
        t.b1[dy] = round_coef(fy * kCoefScale);
        // A zero-weight tap adds exactly 0 to the blend, so point it at the other
        // row: the driver then runs one horizontal pass instead of two (integer
        // downscales such as 1080 -> 360 put every output row on a source row).
        if (t.b1[dy] == 0) t.y1[dy] = t.y0[dy];
        if (t.b0[dy] == 0) t.y0[dy] = t.y1[dy];
    }
    return t;
}

}  // namespace ev
