// Comparing a run with a saved baseline. A benchmark regressed only when its
// median is more than max_ratio times the baseline's AND a one-sided
// Mann–Whitney U test on the raw samples says it is slower (p < alpha):
// noise alone must not fail a run. With fewer than min_samples samples on a
// side the test cannot reach p < 0.01, so the result is "inconclusive".
#pragma once

#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/bench.h"

namespace llmk::bench {

struct RegressionRule {
  double max_ratio = 1.10;
  double alpha = 0.01;
  size_t min_samples = 10;
};

enum class Verdict { kOk, kRegression, kInconclusive, kNotInBaseline };
const char* verdict_name(Verdict v);

struct Comparison {
  std::string name;
  double baseline_median_ns = 0;
  double current_median_ns = 0;
  double ratio = 0;     // current / baseline median
  double p_value = 1;   // one-sided: current slower than baseline
  size_t baseline_samples = 0, current_samples = 0;
  Verdict verdict = Verdict::kOk;
};

Comparison compare_samples(const std::string& name, std::span<const double> baseline_ns,
                           std::span<const double> current_ns, const RegressionRule& rule = {});

// Raw samples per benchmark name from a JSON file written by --json or
// --save-baseline (benchmarks[].name and benchmarks[].llmk.samples_ns).
using BaselineSamples = std::map<std::string, std::vector<double>>;
absl::StatusOr<BaselineSamples> parse_baseline(std::string_view json_text);
absl::StatusOr<BaselineSamples> load_baseline(const std::string& path);

std::vector<Comparison> compare_with_baseline(const SuiteResult& current,
                                              const BaselineSamples& baseline,
                                              const RegressionRule& rule = {});
// 1 if any regression, else 2 if any inconclusive, else 0.
int comparison_exit_code(std::span<const Comparison> comparisons);
void print_comparisons(std::span<const Comparison> comparisons, std::FILE* out);

}  // namespace llmk::bench
