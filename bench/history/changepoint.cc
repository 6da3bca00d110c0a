#include "history/changepoint.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace llmk::bench::history {
namespace {

struct Split {
  double statistic = -1;  // < 0: no admissible split
  size_t tau = 0;         // first point of the right part
};

// The best split of points [s, e) of `x` (already in the order to test), τ
// and κ restricted to group boundaries (`cut[i]`: a group starts at point i;
// cut[e] is true at the segment's end). O((e − s)²) with prefix sums.
//
// Q(τ, κ) = m·k/(m + k) · (2/(m·k)·B − W_L/C(m,2) − W_R/C(k,2)), m = τ − s,
// k = κ − τ, B the sum of |x_i − x_j| across the two parts, W_L and W_R the
// sums within each (Matteson & James, eq. 7 and 9 with α = 1).
Split best_split(std::span<const double> x, size_t s, size_t e, const std::vector<bool>& cut,
                 size_t min_points) {
  Split best;
  const size_t n = e - s;
  if (n < 2 * min_points) return best;
  // row[i][j] = Σ_{j' < j} |x_i − x_j'| over the segment (local indices).
  std::vector<double> row((n + 1) * n, 0.0);
  auto at = [&](size_t i, size_t j) -> double& { return row[i * (n + 1) + j]; };
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) at(i, j + 1) = at(i, j) + std::fabs(x[s + i] - x[s + j]);
  }
  double within_left = 0;  // W_L for the current τ
  for (size_t tau = 1; tau < n; ++tau) {
    within_left += at(tau - 1, tau - 1);  // point τ − 1 joins the left part
    const size_t m = tau;
    if (m < min_points || !cut[s + tau]) continue;
    double within_right = 0, between = 0;
    for (size_t kappa = tau + 1; kappa <= n; ++kappa) {
      const size_t added = kappa - 1;  // point κ − 1 joins the right part
      within_right += at(added, added) - at(added, tau);
      between += at(added, tau);
      const size_t k = kappa - tau;
      if (k < min_points || !cut[s + kappa]) continue;
      const double md = static_cast<double>(m), kd = static_cast<double>(k);
      const double energy = 2.0 * between / (md * kd) - within_left / (md * (md - 1) / 2) -
                            within_right / (kd * (kd - 1) / 2);
      const double q = md * kd / (md + kd) * energy;
      if (q > best.statistic) {
        best.statistic = q;
        best.tau = s + tau;
      }
    }
  }
  return best;
}

}  // namespace

std::vector<ChangePoint> detect_change_points(std::span<const std::vector<double>> groups,
                                              const ChangePointOptions& options) {
  std::vector<double> x;
  std::vector<size_t> group_of_point;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (double v : groups[g]) {
      x.push_back(v);
      group_of_point.push_back(g);
    }
  }
  const size_t n = x.size();
  std::vector<bool> cut(n + 1, false);
  for (size_t i = 1; i < n; ++i) cut[i] = group_of_point[i] != group_of_point[i - 1];
  cut[n] = true;
  const size_t min_points = std::max<size_t>(options.min_points, 2);

  std::vector<size_t> bounds = {0, n};  // segment boundaries, sorted
  std::vector<ChangePoint> found;
  std::mt19937_64 rng(options.seed);
  std::vector<double> shuffled(n);
  while (true) {
    // The best split over all current segments.
    Split best;
    for (size_t b = 0; b + 1 < bounds.size(); ++b) {
      const Split s = best_split(x, bounds[b], bounds[b + 1], cut, min_points);
      if (s.statistic > best.statistic) best = s;
    }
    if (best.statistic <= 0) break;
    // Under "no further change" the points of each segment are exchangeable:
    // shuffle within segments, keep the group boundaries where they are.
    int as_large = 0;
    for (int r = 0; r < options.permutations; ++r) {
      shuffled = x;
      for (size_t b = 0; b + 1 < bounds.size(); ++b) {
        std::shuffle(shuffled.begin() + static_cast<std::ptrdiff_t>(bounds[b]),
                     shuffled.begin() + static_cast<std::ptrdiff_t>(bounds[b + 1]), rng);
      }
      double permuted = -1;
      for (size_t b = 0; b + 1 < bounds.size(); ++b) {
        permuted = std::max(permuted,
                            best_split(shuffled, bounds[b], bounds[b + 1], cut, min_points).statistic);
      }
      if (permuted >= best.statistic) ++as_large;
    }
    const double p = (as_large + 1.0) / (options.permutations + 1.0);
    if (p > options.alpha) break;
    found.push_back({group_of_point[best.tau], p, best.statistic});
    bounds.insert(std::upper_bound(bounds.begin(), bounds.end(), best.tau), best.tau);
  }
  std::sort(found.begin(), found.end(),
            [](const ChangePoint& a, const ChangePoint& b) { return a.group < b.group; });
  return found;
}

std::vector<ChangePoint> detect_change_points(std::span<const double> series,
                                              const ChangePointOptions& options) {
  std::vector<std::vector<double>> groups;
  groups.reserve(series.size());
  for (double v : series) groups.push_back({v});
  return detect_change_points(groups, options);
}

}  // namespace llmk::bench::history
