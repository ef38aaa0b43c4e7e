// Greedy NMS over boxes in visiting order (see nms.hpp).
#include "nms.hpp"

namespace ev {
namespace {

// numpy's minimum / maximum: NaN if either is NaN.
inline double np_min(double a, double b) { return (a != a || b != b) ? (a != a ? a : b) : (a < b ? a : b); }
inline double np_max(double a, double b) { return (a != a || b != b) ? (a != a ? a : b) : (a > b ? a : b); }

// decoders._iou for one pair, k the kept (suppressing) box and j the visited one.
inline double iou(const double* bk, double ak, const double* bj, double aj) {
    const double iw = np_min(bk[2], bj[2]) - np_max(bk[0], bj[0]);
    const double ih = np_min(bk[3], bj[3]) - np_max(bk[1], bj[1]);
    const double inter = np_max(iw, 0.0) * np_max(ih, 0.0);
    const double uni = ak + aj - inter;
    return uni > 0.0 ? inter / uni : 0.0;
}

}  // namespace

std::vector<int64_t> nms_sorted(const double* boxes, const double* areas, int64_t n, double t, int64_t limit) {
    std::vector<int64_t> kept;
    for (int64_t j = 0; j < n && int64_t(kept.size()) < limit; ++j) {
        bool suppressed = false;
        for (int64_t k : kept)
            if (iou(boxes + 4 * k, areas[k], boxes + 4 * j, areas[j]) > t) {
                suppressed = true;
                break;
            }
        if (!suppressed) kept.push_back(j);
    }
    return kept;
}

}  // namespace ev
