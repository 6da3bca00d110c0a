// Change points in a benchmark's history by E-divisive means: D. S. Matteson
// and N. A. James, "A Nonparametric Approach for Multiple Change Point
// Analysis of Multivariate Data", JASA 109(505):334–345, 2014 (the method
// Apache Otava, formerly Hunter, applies to performance histories).
//
// The series is split hierarchically: the split (τ, κ) maximising the
// scaled energy distance between x[s, τ) and x[τ, κ) within a segment
// [s, e) is a candidate; a permutation test (points shuffled within each
// current segment, the maximum recomputed) gives its p-value; below alpha
// the split is kept and the search goes on, else it stops. Energy distance
// with exponent 1 sees any change of distribution, not only of the mean,
// and needs no noise model.
//
// History points come in groups (one commit's repetition medians): splits
// are only tried between groups, so a change point names a commit, while
// the test still uses every repetition.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace llmk::bench::history {

struct ChangePointOptions {
  // Each kept split is a test at this level; on a series without change the
  // first test fails with probability ≤ alpha, so ≤ alpha of such series
  // report any change point.
  double alpha = 0.01;
  // 199 gives p-values in steps of 1/200, the smallest 0.005 < alpha.
  int permutations = 199;
  size_t min_points = 2;  // points on each side of a split (within-sums need 2)
  uint64_t seed = 0x5eed;  // of the permutations: the same history gives the same answer
};

struct ChangePoint {
  size_t group = 0;       // first group after the shift
  double p_value = 1;
  double statistic = 0;   // the scaled energy distance of the split
};

// Groups of points in history order (empty groups are allowed and never
// split at). Change points sorted by group.
std::vector<ChangePoint> detect_change_points(std::span<const std::vector<double>> groups,
                                              const ChangePointOptions& options = {});
// Every point its own group.
std::vector<ChangePoint> detect_change_points(std::span<const double> series,
                                              const ChangePointOptions& options = {});

}  // namespace llmk::bench::history
