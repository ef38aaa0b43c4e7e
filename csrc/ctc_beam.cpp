// CTC prefix beam search, compiled. The reference is the Python edgevision.decoders._ctc_beam_reference;
// tests/test_decoders.py holds the two equal bit for bit. Built with -ffp-contract=off (no fused
// multiply-adds), so every double operation is the one Python performs.
#include "ctc_beam.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ev {
namespace {

constexpr double kNeg = -std::numeric_limits<double>::infinity();

// log(exp(x) + exp(y)), as the reference's lse on Python floats.
inline double lse(double x, double y) {
    if (x < y) std::swap(x, y);
    return y == kNeg ? x : x + std::log1p(std::exp(y - x));
}

struct Beam {
    std::vector<int32_t> prefix;
    double pb, pnb;  // log p of the paths ending in a blank / in the prefix's last class
};

// An entry of the reference's `nxt` dict: the prefix of beam `beam`, extended by `cls` when cls >= 0
// (an extension that is itself a beam is that beam's entry, cls -1, as the dict merges them).
struct Entry {
    int32_t beam, cls;
    double pb, pnb;
};

}  // namespace

std::vector<Reading> ctc_beam(const double* logp, int64_t T, int64_t C, int64_t blank, int64_t width, double prune) {
    std::vector<Beam> beams{{{}, 0.0, kNeg}};
    std::vector<int64_t> cand;
    std::vector<Entry> entries;
    std::vector<int32_t> entry_of_beam, child_at(size_t(C), -1), order;
    std::vector<std::vector<std::pair<int32_t, int32_t>>> children;  // per beam: (class, the beam extending it by it)
    std::vector<double> score, kth_buf;
    for (int64_t t = 0; t < T; ++t) {
        const double* row = logp + t * C;
        cand.clear();
        for (int64_t c = 0; c < C; ++c)
            if (c != blank && row[c] >= prune) cand.push_back(c);
        const int32_t nb = int32_t(beams.size());
        children.assign(size_t(nb), {});
        for (int32_t q = 0; q < nb; ++q) {
            const auto& pq = beams[size_t(q)].prefix;
            if (pq.empty()) continue;
            for (int32_t b = 0; b < nb; ++b) {
                const auto& pb = beams[size_t(b)].prefix;
                if (pb.size() + 1 == pq.size() && std::equal(pb.begin(), pb.end(), pq.begin())) {
                    children[size_t(b)].push_back({pq.back(), q});
                    break;
                }
            }
        }
        entries.clear();
        entry_of_beam.assign(size_t(nb), -1);
        auto beam_entry = [&](int32_t q) -> Entry& {
            int32_t& k = entry_of_beam[size_t(q)];
            if (k < 0) {
                k = int32_t(entries.size());
                entries.push_back({q, -1, kNeg, kNeg});
            }
            return entries[size_t(k)];
        };
        const double rb = row[blank];
        for (int32_t b = 0; b < nb; ++b) {
            const Beam& beam = beams[size_t(b)];
            const double total = lse(beam.pb, beam.pnb);
            // (the reference's lse of an entry with -inf leaves it as it is, so those adds are skipped)
            Entry& self = beam_entry(b);
            self.pb = lse(self.pb, total + rb);  // a blank: the prefix stays
            const bool has_last = !beam.prefix.empty();
            const int32_t last = has_last ? beam.prefix.back() : -1;
            if (has_last) {
                Entry& again = beam_entry(b);
                again.pnb = lse(again.pnb, beam.pnb + row[last]);  // the last class again, merged
            }
            for (const auto& cq : children[size_t(b)]) child_at[size_t(cq.first)] = cq.second;
            for (int64_t c : cand) {
                // after a non-blank of the same class only a path through a blank starts a new character
                const double v = (has_last && last == c ? beam.pb : total) + row[c];
                const int32_t q = child_at[size_t(c)];
                if (q >= 0) {
                    Entry& e = beam_entry(q);
                    e.pnb = lse(e.pnb, v);
                } else {
                    entries.push_back({b, int32_t(c), kNeg, lse(kNeg, v)});
                }
            }
            for (const auto& cq : children[size_t(b)]) child_at[size_t(cq.first)] = -1;
        }
        // the width best by score, ties in insertion order (the reference's stable sort), -inf dropped
        const size_t n = entries.size();
        score.resize(n);
        order.clear();
        for (size_t k = 0; k < n; ++k) {
            score[k] = lse(entries[k].pb, entries[k].pnb);
            if (score[k] > kNeg) order.push_back(int32_t(k));
        }
        if (int64_t(order.size()) > width) {
            kth_buf.clear();
            for (int32_t k : order) kth_buf.push_back(score[size_t(k)]);
            auto nth = kth_buf.begin() + (width - 1);
            std::nth_element(kth_buf.begin(), nth, kth_buf.end(), std::greater<double>());
            const double kth = *nth;
            order.erase(std::remove_if(order.begin(), order.end(), [&](int32_t k) { return score[size_t(k)] < kth; }),
                        order.end());
        }
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return score[size_t(a)] > score[size_t(b)]; });
        if (int64_t(order.size()) > width) order.resize(size_t(width));
        std::vector<Beam> next;
        next.reserve(order.size());
        for (int32_t k : order) {
            const Entry& e = entries[size_t(k)];
            Beam nbm{beams[size_t(e.beam)].prefix, e.pb, e.pnb};
            if (e.cls >= 0) nbm.prefix.push_back(e.cls);
            next.push_back(std::move(nbm));
        }
        beams = std::move(next);
    }
    // the beams are ranked already (the reference's final sort is stable over them)
    std::vector<Reading> out;
    out.reserve(beams.size());
    for (auto& b : beams) out.emplace_back(std::move(b.prefix), lse(b.pb, b.pnb));
    return out;
}

std::vector<std::pair<int64_t, int64_t>> ctc_align(const double* logp, int64_t T, int64_t C, const int32_t* labels,
                                                   int64_t L, int64_t blank) {
    std::vector<std::pair<int64_t, int64_t>> steps;
    if (T == 0) return steps;
    std::vector<int64_t> ext{blank};
    for (int64_t i = 0; i < L; ++i) {
        ext.push_back(labels[i]);
        ext.push_back(blank);
    }
    const int64_t S = int64_t(ext.size());
    std::vector<double> score(size_t(T * S), kNeg);
    std::vector<int64_t> back(size_t(T * S), 0);
    score[0] = logp[ext[0]];
    if (S > 1) score[1] = logp[ext[1]];
    for (int64_t t = 1; t < T; ++t) {
        const double* prev = score.data() + (t - 1) * S;
        const double* row = logp + t * C;
        for (int64_t s = 0; s < S; ++s) {
            double best = prev[s];
            int64_t arg = s;
            if (s >= 1 && prev[s - 1] > best) {
                best = prev[s - 1];
                arg = s - 1;
            }
            if (s >= 2 && ext[size_t(s)] != blank && ext[size_t(s)] != ext[size_t(s - 2)] && prev[s - 2] > best) {
                best = prev[s - 2];
                arg = s - 2;
            }
            score[size_t(t * S + s)] = best + row[ext[size_t(s)]];
            back[size_t(t * S + s)] = arg;
        }
    }
    const double* last = score.data() + (T - 1) * S;
    int64_t s = (S == 1 || last[S - 1] >= last[S - 2]) ? S - 1 : S - 2;
    std::vector<int64_t> states(static_cast<size_t>(T));
    states[size_t(T - 1)] = s;
    for (int64_t t = T - 1; t > 0; --t) {
        s = back[size_t(t * S + s)];
        states[size_t(t - 1)] = s;
    }
    int64_t prev_state = -1;
    for (int64_t t = 0; t < T; ++t) {
        const int64_t st = states[size_t(t)];
        if (ext[size_t(st)] != blank && st != prev_state) steps.push_back({t, ext[size_t(st)]});
        prev_state = st;
    }
    return steps;
}

}  // namespace ev
