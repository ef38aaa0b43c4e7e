// Standalone check of the compiled CTC prefix beam search (csrc/ctc_beam.cpp) under AddressSanitizer and
// UndefinedBehaviorSanitizer: random inputs (junk, peaky, rounded ties, -inf entries, T 0..40, C 1..70, widths
// 1..64, pruned or not) must neither touch memory they should not nor break the result's invariants. The values
// themselves are held equal to the Python reference by tests/test_decoders.py. Prints "N passed, M failed".
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "ctc_beam.hpp"

int main() {
    std::mt19937 g(7);
    long passed = 0, failed = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        const int T = std::uniform_int_distribution<int>(0, 40)(g), C = std::uniform_int_distribution<int>(1, 70)(g);
        const int W = std::uniform_int_distribution<int>(1, 64)(g), blank = std::uniform_int_distribution<int>(0, C - 1)(g);
        std::vector<double> lp(size_t(T) * size_t(C));
        std::normal_distribution<double> n(0, 3);
        for (int t = 0; t < T; ++t) {
            double m = -1e300, s = 0;
            double* row = lp.data() + size_t(t) * size_t(C);
            for (int c = 0; c < C; ++c) {
                row[c] = trial % 7 == 0 ? std::round(n(g)) : n(g);
                if (trial % 3 == 0 && c == t % C) row[c] += 10;  // a peaky, plate-like path
                m = std::max(m, row[c]);
            }
            for (int c = 0; c < C; ++c) s += std::exp(row[c] - m);
            for (int c = 0; c < C; ++c) row[c] = row[c] - m - std::log(s);
            if (trial % 5 == 0) row[t % C] = -INFINITY;
        }
        const double prune = trial % 4 ? std::log(1e-4) : -INFINITY;
        const auto r = ev::ctc_beam(lp.data(), T, C, blank, W, prune);
        bool ok = long(r.size()) <= W && (T > 0 || (r.size() == 1 && r[0].first.empty() && r[0].second == 0.0));
        std::set<std::vector<int32_t>> seen;
        for (size_t k = 0; k < r.size() && ok; ++k) {
            ok = r[k].second <= 1e-9 && r[k].second > -INFINITY && seen.insert(r[k].first).second &&
                 (k == 0 || r[k].second <= r[k - 1].second) && long(r[k].first.size()) <= T;
            for (int32_t c : r[k].first) ok = ok && c >= 0 && c < C && c != blank;
        }
        if (ok) {
            ++passed;
        } else {
            ++failed;
            std::printf("failed: trial %d (T %d, C %d, width %d, blank %d)\n", trial, T, C, W, blank);
        }
    }
    std::printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
