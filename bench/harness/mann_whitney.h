// One-sided Mann–Whitney U test: is `x` stochastically greater than `y`
// (e.g. current run times slower than the baseline's)?
#pragma once

#include <span>

namespace llmk::bench {

struct UTestResult {
  double u = 0;        // U of x: pairs with x_i > y_j, ties counting one half
  double p_value = 1;  // P(U ≥ u) under H0 (both samples from one distribution)
  bool exact = false;  // exact null distribution (small samples, no ties)
};

// Exact when there are no ties and m·n ≤ 2500; otherwise the normal
// approximation with tie-corrected variance and a continuity correction.
// Empty inputs give p = 1.
UTestResult mann_whitney_greater(std::span<const double> x, std::span<const double> y);

// P(U ≥ u) for sample sizes m, n without ties, from the exact distribution.
double mann_whitney_exact_upper_tail(size_t m, size_t n, double u);

// The smallest one-sided p the exact test can give for sizes m, n: complete
// separation, 1 / C(m + n, m) (5 vs 5: 1/252; 4 vs 4: 1/70). 1 when either
// side is empty.
double mann_whitney_smallest_p(size_t m, size_t n);

}  // namespace llmk::bench
