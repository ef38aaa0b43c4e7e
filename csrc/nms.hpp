// Greedy non-maximum suppression: the compiled twin of edgevision.decoders._greedy_nms_reference.
#pragma once

#include <cstdint>
#include <vector>

namespace ev {

// boxes: n x 4 (x1, y1, x2, y2) float64, row-major, already in visiting order (decreasing score) and
// already shifted by class (the reference's offset trick); areas: their n areas, computed before that
// shift. Visits the boxes in order and keeps one unless a kept box overlaps it with IoU > t; stops
// after `limit` kept. Returns the kept positions (into the ordered boxes), in order.
//
// Bit for bit the reference's decisions: IoU = inter / union with numpy's arithmetic (min and max
// propagate NaN, union = (area_kept + area_box) - inter, 0 where the union is not > 0), compared > t;
// NaN IoUs suppress nothing.
std::vector<int64_t> nms_sorted(const double* boxes, const double* areas, int64_t n, double t, int64_t limit);

}  // namespace ev
