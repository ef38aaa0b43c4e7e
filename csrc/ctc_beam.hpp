// CTC prefix beam search: the compiled twin of edgevision.decoders._ctc_beam_reference.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ev {

using Reading = std::pair<std::vector<int32_t>, double>;  // classes (blanks removed, runs merged), log-probability

// logp: T x C log-probabilities, row-major (finite or -inf). Returns the `width` most probable
// readings, best first, each with the log of the summed probability of every path collapsing to it.
// Classes whose step log-probability is under `prune` are not extended (the blank always is).
//
// Bit for bit what the Python reference returns: the same double additions, the same
// log-sum-exp (x + log1p(exp(y - x)) with x >= y, libm's exp and log1p, as Python's math module
// calls them), and ties ranked by the reference's insertion order (its stable sort of a dict).
std::vector<Reading> ctc_beam(const double* logp, int64_t T, int64_t C, int64_t blank, int64_t width, double prune);

// The most probable CTC path of `labels` (L classes, none the blank) through logp (T x C, row-major):
// Viterbi over the blank-interleaved labels. Returns, for each label run on that path, the time step
// it starts at and its class (L pairs unless T < L; empty when T == 0). The twin of edgevision.decoders._ctc_align_reference: the same
// double additions, and its tie rule (Python's max over (score, state) tuples: on equal scores the
// later state, i.e. stay before advance before skip).
std::vector<std::pair<int64_t, int64_t>> ctc_align(const double* logp, int64_t T, int64_t C, const int32_t* labels,
                                                   int64_t L, int64_t blank);

}  // namespace ev
