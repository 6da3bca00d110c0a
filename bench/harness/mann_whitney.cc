#include "harness/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace llmk::bench {

double mann_whitney_exact_upper_tail(size_t m, size_t n, double u) {
  // count[j][k]: arrangements of i x's and j y's whose U equals k, built one
  // x at a time: f(i, j, k) = f(i − 1, j, k − j) + f(i, j − 1, k). Doubles
  // hold the binomial-sized counts without overflow for m·n ≤ 2500.
  const size_t max_u = m * n;
  std::vector<std::vector<double>> prev(n + 1, std::vector<double>(max_u + 1, 0.0));
  for (size_t j = 0; j <= n; ++j) prev[j][0] = 1.0;  // i = 0: one arrangement, U = 0
  for (size_t i = 1; i <= m; ++i) {
    std::vector<std::vector<double>> cur(n + 1, std::vector<double>(max_u + 1, 0.0));
    cur[0][0] = 1.0;  // j = 0: U = 0
    for (size_t j = 1; j <= n; ++j) {
      for (size_t k = 0; k <= i * j; ++k) {
        double c = cur[j - 1][k];                 // the largest value is a y
        if (k >= j) c += prev[j][k - j];          // the largest value is an x: beats all j y's
        cur[j][k] = c;
      }
    }
    prev = std::move(cur);
  }
  double total = 0.0, tail = 0.0;
  for (size_t k = 0; k <= max_u; ++k) {
    total += prev[n][k];
    if (static_cast<double>(k) >= u - 1e-9) tail += prev[n][k];
  }
  return total > 0.0 ? tail / total : 1.0;
}

double mann_whitney_smallest_p(size_t m, size_t n) {
  if (m == 0 || n == 0) return 1.0;
  // C(m + n, k) as a running product over k = 1..min(m, n); each step stays
  // an integer in exact arithmetic, and doubles keep 15 digits beyond 2^53.
  const size_t k = std::min(m, n);
  double combinations = 1.0;
  for (size_t i = 1; i <= k; ++i) {
    combinations = combinations * static_cast<double>(m + n - k + i) / static_cast<double>(i);
  }
  return 1.0 / combinations;
}

UTestResult mann_whitney_greater(std::span<const double> x, std::span<const double> y) {
  UTestResult r;
  const size_t m = x.size(), n = y.size();
  if (m == 0 || n == 0) return r;

  // Rank the pooled samples, ties sharing their average rank.
  std::vector<std::pair<double, bool>> pooled;  // (value, from x)
  pooled.reserve(m + n);
  for (double v : x) pooled.emplace_back(v, true);
  for (double v : y) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const size_t total = m + n;
  double rank_sum_x = 0.0, tie_term = 0.0;
  bool ties = false;
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j < total && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) rank_sum_x += pooled[k].second ? avg_rank : 0.0;
    if (j - i > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j;
  }
  const double md = static_cast<double>(m), nd = static_cast<double>(n);
  r.u = rank_sum_x - md * (md + 1.0) / 2.0;

  if (!ties && m * n <= 2500) {
    r.exact = true;
    r.p_value = mann_whitney_exact_upper_tail(m, n, r.u);
    return r;
  }
  const double nn = md + nd;
  const double variance = md * nd / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
  if (!(variance > 0.0)) {  // every value tied: no evidence either way
    r.p_value = 1.0;
    return r;
  }
  const double z = (r.u - md * nd / 2.0 - 0.5) / std::sqrt(variance);
  r.p_value = std::min(1.0, 0.5 * std::erfc(z / std::sqrt(2.0)));
  return r;
}

}  // namespace llmk::bench
