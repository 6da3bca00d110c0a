// Pure statistics over samples: no I/O, no clocks, so tests check them
// against hand-computed values. compute_stats (llmk/bench.h) builds on these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace llmk::bench {

double mean_of(std::span<const double> x);
// Sample standard deviation (divides by n − 1); 0 for n < 2.
double stddev_of(std::span<const double> x);
// Linear interpolation between order statistics at rank q·(n − 1), q in [0, 1].
// `sorted` must be ascending. 0 for an empty span.
double quantile_sorted(std::span<const double> sorted, double q);
double median_of(std::span<const double> x);
// Median of |x − median(x)| (unscaled).
double mad_of(std::span<const double> x);

// The spec's three-sigma rule, per sample: x − median > 3·stddev, in floating point.
size_t count_three_sigma_outliers(std::span<const double> x, double median, double stddev);
// Samples outside median ± k·MAD; none when MAD is 0 (a constant majority
// would otherwise make every other sample an outlier).
size_t count_mad_outliers(std::span<const double> x, double median, double mad, double k = 5.0);

// Rates from a per-operation time; 0 when the time is not positive.
double per_second(double amount_per_op, double ns_per_op);

// The order entries run in during one repetition: a permutation of 0..n−1
// from (seed, repetition), by Fisher–Yates over splitmix64 rather than
// std::shuffle, whose algorithm differs between standard libraries, so a
// recorded seed reproduces the order anywhere.
std::vector<size_t> shuffled_order(size_t n, uint64_t seed, uint64_t repetition);

}  // namespace llmk::bench
