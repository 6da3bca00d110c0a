#include "harness/stats.h"

#include <algorithm>
#include <cmath>

#include "llmk/bench.h"

namespace llmk::bench {

double mean_of(std::span<const double> x) {
  if (x.empty()) return 0.0;
  double sum = 0.0;
  for (double v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double stddev_of(std::span<const double> x) {
  if (x.size() < 2) return 0.0;
  const double mean = mean_of(x);
  double sum_sq = 0.0;
  for (double v : x) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / static_cast<double>(x.size() - 1));
}

double quantile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

double median_of(std::span<const double> x) {
  std::vector<double> sorted(x.begin(), x.end());
  std::sort(sorted.begin(), sorted.end());
  return quantile_sorted(sorted, 0.5);
}

double mad_of(std::span<const double> x) {
  const double median = median_of(x);
  std::vector<double> dev;
  dev.reserve(x.size());
  for (double v : x) dev.push_back(std::fabs(v - median));
  return median_of(dev);
}

size_t count_three_sigma_outliers(std::span<const double> x, double median, double stddev) {
  size_t n = 0;
  for (double v : x) n += (v - median) > 3.0 * stddev ? 1 : 0;
  return n;
}

size_t count_mad_outliers(std::span<const double> x, double median, double mad, double k) {
  if (!(mad > 0.0)) return 0;
  size_t n = 0;
  for (double v : x) n += std::fabs(v - median) > k * mad ? 1 : 0;
  return n;
}

double per_second(double amount_per_op, double ns_per_op) {
  return ns_per_op > 0.0 ? amount_per_op * 1e9 / ns_per_op : 0.0;
}

namespace {
// splitmix64 (Steele, Lea, Flood 2014): one multiply-xorshift step per draw,
// well mixed even for consecutive seeds.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

std::vector<size_t> shuffled_order(size_t n, uint64_t seed, uint64_t repetition) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = seed;
  state = splitmix64(state) ^ repetition;  // separate streams per repetition
  for (size_t i = n; i > 1; --i) {
    // Modulo bias is below 2^-40 for any realistic entry count.
    const size_t j = static_cast<size_t>(splitmix64(state) % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<double> BenchmarkResult::repetition_medians_ns() const {
  std::vector<double> medians;
  medians.reserve(repetitions.size());
  for (const RepetitionResult& rep : repetitions) medians.push_back(rep.stats.median);
  return medians;
}

BenchmarkStats compute_stats(std::span<const double> samples_ns) {
  BenchmarkStats s;
  s.n = samples_ns.size();
  if (s.n == 0) return s;
  std::vector<double> sorted(samples_ns.begin(), samples_ns.end());
  std::sort(sorted.begin(), sorted.end());
  s.min = sorted.front();
  s.max = sorted.back();
  s.mean = mean_of(sorted);
  s.median = quantile_sorted(sorted, 0.5);
  s.stddev = stddev_of(sorted);
  s.p90 = quantile_sorted(sorted, 0.90);
  s.p99 = quantile_sorted(sorted, 0.99);
  s.mad = mad_of(sorted);
  s.three_sigma_outliers = count_three_sigma_outliers(sorted, s.median, s.stddev);
  s.robust_outliers = count_mad_outliers(sorted, s.median, s.mad, 5.0);
  return s;
}

}  // namespace llmk::bench
