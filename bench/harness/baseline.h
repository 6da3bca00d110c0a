// Comparing a run with a saved baseline, entry by entry, on repetition
// medians. Samples within one repetition are batch means that drift together
// (the machine's state changes slowly), so they are not independent; what a
// test may treat as independent draws are whole repetitions, each with its
// own setup and warm-up, interleaved with the other entries. An entry
// regressed only when the median of its repetition medians is more than
// max_ratio times the baseline's AND a one-sided Mann–Whitney U test on the
// repetition medians says it is slower (p < alpha). When the repetition
// counts cannot reach p < alpha at all (4 vs 4: p ≥ 1/70), or the median is
// over the bar but the test is not significant, the verdict is
// "inconclusive", never "ok". The spec's own rule (mean > 1.10 × the
// baseline's mean) is computed and printed beside it, for reference.
#pragma once

#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/bench.h"

namespace llmk::bench {

// llmk-bench's exit codes; when several apply, the first in this order wins:
// regression, missing, target failed, inconclusive.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRegression = 1;
inline constexpr int kExitInconclusive = 2;
inline constexpr int kExitUsage = 3;
inline constexpr int kExitEntryError = 4;    // an entry's setup or body failed
inline constexpr int kExitMissing = 5;       // a baseline entry missing or skipped now
inline constexpr int kExitTargetFailed = 6;  // a speed target FAIL under --check-targets

// 5 vs 5 is the smallest equal split whose exact U test can reach p < 0.01
// (1/252); 4 vs 4 cannot (1/70).
inline constexpr size_t kMinBaselineRepetitions = 5;
// With 10 a side the simulated machine of tests/bench_statistics_test.cc
// (4% drift between repetitions, autocorrelated samples) gives no false
// alarms in 1000 A/A pairs and flags a 15% slowdown in over 95% of pairs;
// 5 a side flags it in fewer.
inline constexpr size_t kRecommendedRepetitions = 10;

struct RegressionRule {
  double max_ratio = 1.10;  // the spec's 10% rule, here on medians
  double alpha = 0.01;      // one-sided U test on repetition medians
};

enum class Verdict { kOk, kRegression, kInconclusive, kMissing, kNotInBaseline };
const char* verdict_name(Verdict v);

// What the verdict needs of one run of one entry.
struct RunSummary {
  std::vector<double> repetition_medians_ns;  // one per repetition
  double mean_ns = 0;                         // over every sample of every repetition
  size_t samples = 0;                         // every sample of every repetition
};
// A result without repetition records (built by hand) counts as one
// repetition with its overall median.
RunSummary summarize(const BenchmarkResult& r);

struct Comparison {
  std::string name;
  double baseline_median_ns = 0;  // median of the repetition medians
  double current_median_ns = 0;
  double ratio = 0;               // current / baseline, of the two above
  double mean_ratio = 0;          // current / baseline mean: the spec's rule fires above 1.10
  double p_value = 1;             // one-sided U test: current slower than baseline
  double smallest_p = 1;          // the smallest p these repetition counts allow
  size_t baseline_repetitions = 0, current_repetitions = 0;
  Verdict verdict = Verdict::kOk;
  std::string reason;             // why inconclusive or missing
};

Comparison compare_runs(const std::string& name, const RunSummary& baseline,
                        const RunSummary& current, const RegressionRule& rule = {});

// Per benchmark name, from a JSON file written by --json or --save-baseline:
// each "iteration" row (benchmarks[] with run_type "iteration", named by
// run_name or name) is one repetition, its median taken from its raw
// llmk.samples_ns. Aggregate rows and rows of skipped entries are ignored.
// A file with a single row per entry (one repetition, no aggregates) loads
// as one repetition.
using Baseline = std::map<std::string, RunSummary>;
absl::StatusOr<Baseline> parse_baseline(std::string_view json_text);
absl::StatusOr<Baseline> load_baseline(const std::string& path);
// The most repetitions any entry of the baseline has.
size_t max_repetitions(const Baseline& baseline);

// One comparison per entry of `current` that ran, plus one kMissing per
// baseline entry this run selected (its name, less a "@target" suffix,
// matches `filter`) but did not run or skipped. An empty or invalid filter
// selects every entry.
std::vector<Comparison> compare_with_baseline(const SuiteResult& current, const Baseline& baseline,
                                              const std::string& filter = "",
                                              const RegressionRule& rule = {});
// Speed-target FAILs in a run (n/a targets are not failures).
size_t count_failed_targets(const SuiteResult& suite);
// The process exit code for what a run found; failed_targets only counts
// under --check-targets (pass 0 otherwise).
int run_exit_code(std::span<const Comparison> comparisons, size_t failed_targets);

}  // namespace llmk::bench
