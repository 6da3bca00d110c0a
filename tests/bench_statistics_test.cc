// The regression verdict and the repetitions behind it: the rule on a
// simulated machine (drift between repetitions, autocorrelated samples within
// one), the rule's cases, baselines of one and of several repetitions,
// missing entries, exit codes, the shuffled order, the runner's repetitions,
// their JSON and CSV, and the command line.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "harness/baseline.h"
#include "cli.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "harness/mann_whitney.h"
#include "report/report.h"
#include "harness/targets.h"
#include "harness/stats.h"
#include "test_util.h"

namespace llmk::bench {
namespace {

// Uniform and normal draws from mt19937_64's raw output: the standard
// distributions' algorithms differ between standard libraries, and the
// simulation must give the same counts everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box–Muller, one value per call
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 gen_;
};

// A machine like the VMs this runs on, as far as the verdict can tell: each
// repetition runs at its own level (a lognormal factor, 4% spread), and the
// samples of one repetition are batch means that wander together (AR(1)
// noise), with rare preemption spikes.
struct SimulatedMachine {
  double drift_sigma = 0.04;  // the spread of a repetition's level
  double noise_sigma = 0.03;  // stationary spread of the within-repetition noise
  double ar_phi = 0.9;        // correlation of consecutive samples
  double spike_rate = 0.01;   // share of samples hit by a preemption
  double spike_size = 0.5;    // a spiked sample is this much slower
  size_t samples = 100;       // per repetition
};

struct SimulatedRun {
  std::vector<double> medians_ns, means_ns;  // per repetition
  std::vector<double> first_samples_ns;      // the first repetition's samples
};

SimulatedRun simulate_run(double level_ns, size_t repetitions, const SimulatedMachine& m,
                          Rng& rng) {
  SimulatedRun run;
  std::vector<double> x(m.samples);
  const double innovation = m.noise_sigma * std::sqrt(1.0 - m.ar_phi * m.ar_phi);
  for (size_t rep = 0; rep < repetitions; ++rep) {
    const double level = level_ns * std::exp(m.drift_sigma * rng.normal());
    double noise = m.noise_sigma * rng.normal();  // start in the stationary state
    for (double& v : x) {
      noise = m.ar_phi * noise + innovation * rng.normal();
      v = level * std::exp(noise);
      if (rng.uniform() < m.spike_rate) v *= 1.0 + m.spike_size;
    }
    run.medians_ns.push_back(median_of(x));
    run.means_ns.push_back(mean_of(x));
    if (rep == 0) run.first_samples_ns = x;
  }
  return run;
}

// The verdict's view of a run's first k repetitions (equal sample counts, so
// the mean of means is the mean of all samples).
RunSummary first_repetitions(const SimulatedRun& run, size_t k, const SimulatedMachine& m) {
  RunSummary s;
  s.repetition_medians_ns.assign(run.medians_ns.begin(), run.medians_ns.begin() + k);
  s.mean_ns = mean_of(std::span(run.means_ns).first(k));
  s.samples = k * m.samples;
  return s;
}

// The naive rule: one run's batch samples taken as independent, median
// ratio > 1.10 and U test p < 0.01 on the samples.
bool batch_sample_rule_fires(const std::vector<double>& base, const std::vector<double>& cur) {
  return median_of(cur) > 1.10 * median_of(base) && mann_whitney_greater(cur, base).p_value < 0.01;
}

struct Rates {
  int regressions = 0, inconclusive = 0, spec_mean_rule = 0, batch_rule = 0;
};

TEST_CASE("simulated machine: false alarms <= 1% with 4% drift, a 15% slowdown flagged >= 95%") {
  constexpr int kPairs = 1000;
  const SimulatedMachine machine;
  Rng rng(20240611);
  std::map<size_t, Rates> same, slower;  // by repetitions a side
  for (int pair = 0; pair < kPairs; ++pair) {
    const SimulatedRun base = simulate_run(100.0, kRecommendedRepetitions, machine, rng);
    const SimulatedRun again = simulate_run(100.0, kRecommendedRepetitions, machine, rng);
    const SimulatedRun slow = simulate_run(115.0, kRecommendedRepetitions, machine, rng);
    for (size_t reps : {kMinBaselineRepetitions, kRecommendedRepetitions}) {
      const RunSummary b = first_repetitions(base, reps, machine);
      for (auto [current, rates] : {std::pair{&again, &same[reps]}, std::pair{&slow, &slower[reps]}}) {
        const Comparison c = compare_runs("x", b, first_repetitions(*current, reps, machine));
        rates->regressions += c.verdict == Verdict::kRegression;
        rates->inconclusive += c.verdict == Verdict::kInconclusive;
        rates->spec_mean_rule += c.mean_ratio > 1.10;
      }
    }
    same[1].batch_rule += batch_sample_rule_fires(base.first_samples_ns, again.first_samples_ns);
    slower[1].batch_rule += batch_sample_rule_fires(base.first_samples_ns, slow.first_samples_ns);
  }
  for (size_t reps : {kMinBaselineRepetitions, kRecommendedRepetitions}) {
    MESSAGE(reps << " vs " << reps << " repetitions, " << kPairs << " pairs: A/A regressions "
                 << same[reps].regressions << ", inconclusive " << same[reps].inconclusive
                 << ", spec mean rule " << same[reps].spec_mean_rule << "; 15% slower flagged "
                 << slower[reps].regressions << ", inconclusive " << slower[reps].inconclusive);
  }
  MESSAGE("one run's batch samples taken as independent: A/A regressions "
          << same[1].batch_rule << ", 15% slower flagged " << slower[1].batch_rule);

  // The recommended count meets both bars.
  CHECK(same[kRecommendedRepetitions].regressions <= kPairs / 100);
  CHECK(slower[kRecommendedRepetitions].regressions >= kPairs * 95 / 100);
  // The minimum keeps false alarms as low; it only detects less.
  CHECK(same[kMinBaselineRepetitions].regressions <= kPairs / 100);
  CHECK(slower[kMinBaselineRepetitions].regressions < slower[kRecommendedRepetitions].regressions);
  // The simulated drift is what breaks the naive rule: its false alarms are
  // those of the median bar alone (~5% here), far above 1%.
  CHECK(same[1].batch_rule > kPairs * 2 / 100);
}

TEST_CASE("smallest achievable p of the exact U test") {
  CHECK(mann_whitney_smallest_p(5, 5) == doctest::Approx(1.0 / 252));
  CHECK(mann_whitney_smallest_p(4, 4) == doctest::Approx(1.0 / 70));
  CHECK(mann_whitney_smallest_p(1, 10) == doctest::Approx(1.0 / 11));
  CHECK(mann_whitney_smallest_p(10, 1) == doctest::Approx(1.0 / 11));
  CHECK(mann_whitney_smallest_p(10, 10) == doctest::Approx(1.0 / 184756));
  CHECK(mann_whitney_smallest_p(0, 5) == 1.0);
  // It is the exact tail at complete separation.
  for (size_t m : {2u, 3u, 5u, 7u}) {
    for (size_t n : {1u, 4u, 6u}) {
      CAPTURE(m);
      CAPTURE(n);
      CHECK(mann_whitney_smallest_p(m, n) ==
            doctest::Approx(mann_whitney_exact_upper_tail(m, n, static_cast<double>(m * n))));
    }
  }
}

RunSummary summary_of(std::vector<double> medians) {
  RunSummary s;
  s.repetition_medians_ns = std::move(medians);
  s.mean_ns = mean_of(s.repetition_medians_ns);
  s.samples = s.repetition_medians_ns.size();
  return s;
}

// n values spread evenly over ±spread/2 around center, in a scrambled order.
std::vector<double> medians_around(double center, size_t n, double spread_fraction) {
  std::vector<double> x;
  for (size_t i = 0; i < n; ++i) {
    const double u = static_cast<double>((i * 7) % n) / static_cast<double>(n - 1) - 0.5;
    x.push_back(center * (1.0 + spread_fraction * u));
  }
  return x;
}

TEST_CASE("the verdict on repetition medians") {
  const RunSummary base = summary_of(medians_around(100.0, 10, 0.02));
  SUBCASE("equal: ok") {
    const Comparison c = compare_runs("x", base, base);
    CHECK(c.ratio == doctest::Approx(1.0));
    CHECK(c.p_value > 0.4);
    CHECK(c.verdict == Verdict::kOk);
  }
  SUBCASE("5% slower: significant, but under the 10% bar") {
    const Comparison c = compare_runs("x", base, summary_of(medians_around(105.0, 10, 0.02)));
    CHECK(c.p_value < 1e-4);
    CHECK(c.ratio == doctest::Approx(1.05).epsilon(0.005));
    CHECK(c.verdict == Verdict::kOk);
  }
  SUBCASE("20% slower: regression") {
    const Comparison c = compare_runs("x", base, summary_of(medians_around(120.0, 10, 0.02)));
    CHECK(c.verdict == Verdict::kRegression);
    CHECK(c.p_value == doctest::Approx(1.0 / 184756));  // complete separation
    CHECK(c.mean_ratio == doctest::Approx(1.2));
    const std::vector<Comparison> all = {c};
    CHECK(run_exit_code(all, 0) == kExitRegression);
  }
  SUBCASE("median 14% higher but the repetitions overlap: inconclusive, not ok") {
    std::vector<double> b, cur;
    for (int i = 0; i < 10; ++i) {
      b.push_back(50.0 + 10.0 * i);
      cur.push_back(70.0 + 10.0 * i);
    }
    const Comparison c = compare_runs("x", summary_of(b), summary_of(cur));
    CHECK(c.ratio > 1.10);
    CHECK(c.p_value >= 0.01);
    CHECK(c.verdict == Verdict::kInconclusive);
    CHECK(c.reason.find("too noisy") != std::string::npos);
  }
  SUBCASE("4 vs 4 repetitions cannot reach p < 0.01: inconclusive even at 50% slower") {
    const Comparison c = compare_runs("x", summary_of(medians_around(100.0, 4, 0.01)),
                                      summary_of(medians_around(150.0, 4, 0.01)));
    CHECK(c.smallest_p == doctest::Approx(1.0 / 70));
    CHECK(c.verdict == Verdict::kInconclusive);
    CHECK(c.reason.find("4 vs 4 repetitions") != std::string::npos);
    const std::vector<Comparison> all = {c, compare_runs("y", base, base)};
    CHECK(run_exit_code(all, 0) == kExitInconclusive);
  }
  SUBCASE("5 vs 5 can: 50% slower is a regression") {
    const Comparison c = compare_runs("x", summary_of(medians_around(100.0, 5, 0.01)),
                                      summary_of(medians_around(150.0, 5, 0.01)));
    CHECK(c.p_value == doctest::Approx(1.0 / 252));
    CHECK(c.verdict == Verdict::kRegression);
  }
  SUBCASE("the spec's mean rule is reported, not judged") {
    RunSummary spiky = base;
    spiky.mean_ns = base.mean_ns * 1.3;  // a few preempted samples move the mean
    const Comparison c = compare_runs("x", base, spiky);
    CHECK(c.mean_ratio == doctest::Approx(1.3));
    CHECK(c.verdict == Verdict::kOk);
  }
}

BenchmarkResult result_with_repetitions(const std::string& name,
                                        const std::vector<std::vector<double>>& reps) {
  BenchmarkResult r;
  r.name = name;
  r.target = "AVX2";
  r.items_per_op = 2;
  for (const std::vector<double>& samples : reps) {
    RepetitionResult rep;
    rep.batch_size = 10;
    rep.total_ops = 10 * samples.size();
    rep.samples_ns = samples;
    rep.stats = compute_stats(samples);
    rep.cpu_ns_per_op = rep.stats.median;
    r.repetitions.push_back(rep);
    r.samples_ns.insert(r.samples_ns.end(), samples.begin(), samples.end());
    r.total_ops += rep.total_ops;
  }
  r.batch_size = 10;
  r.stats = compute_stats(r.samples_ns);
  r.cpu_ns_per_op = r.stats.median;
  r.items_per_second = per_second(r.items_per_op, r.stats.median);
  return r;
}

SuiteResult suite_with_repetitions() {
  SuiteResult suite;
  suite.timer = "tsc";
  suite.governor = "unknown";
  suite.energy_source = "n/a";
  suite.repetitions = 3;
  suite.seed = 42;
  suite.results.push_back(
      result_with_repetitions("ops/a", {{10, 11, 12}, {20, 21, 22, 23}, {30, 31, 29}}));
  suite.results.push_back(result_with_repetitions("ops/b", {{5, 6}, {7, 8}, {9, 10}}));
  BenchmarkResult skipped;
  skipped.name = "tokenizer/gpt2";
  skipped.skipped = "no vocabulary";
  suite.results.push_back(skipped);
  return suite;
}

TEST_CASE("JSON with repetitions: iteration rows per repetition, then aggregates") {
  const SuiteResult suite = suite_with_repetitions();
  auto doc = parse_json(format_json(suite));
  REQUIRE(doc.ok());
  const JsonValue* context_llmk = doc->find("context")->find("llmk");
  CHECK(context_llmk->find("repetitions")->number == 3);
  CHECK(context_llmk->find("shuffle_seed")->number == 42);
  const std::vector<JsonValue>& rows = doc->find("benchmarks")->array;
  // ops/a: 3 iterations + 4 aggregates; ops/b the same; the skipped entry: 1.
  REQUIRE(rows.size() == 15);
  for (int i = 0; i < 3; ++i) {
    const JsonValue& row = rows[i];
    CHECK(row.find("name")->string == "ops/a");
    CHECK(row.find("run_type")->string == "iteration");
    CHECK(row.find("repetitions")->number == 3);
    CHECK(row.find("repetition_index")->number == i);
    CHECK(row.find("family_index")->number == 0);
    CHECK(row.find("real_time")->number == doctest::Approx(suite.results[0].repetitions[i].stats.median));
    CHECK(row.find("llmk")->find("samples_ns")->array.size() ==
          suite.results[0].repetitions[i].samples_ns.size());
  }
  CHECK(rows[1].find("iterations")->number == 40);
  const char* names[] = {"mean", "median", "stddev", "cv"};
  for (int i = 0; i < 4; ++i) {
    const JsonValue& row = rows[3 + i];
    CHECK(row.find("name")->string == std::string("ops/a_") + names[i]);
    CHECK(row.find("run_name")->string == "ops/a");
    CHECK(row.find("run_type")->string == "aggregate");
    CHECK(row.find("aggregate_name")->string == names[i]);
    CHECK(row.find("aggregate_unit")->string == (i == 3 ? "percentage" : "time"));
    CHECK(row.find("repetition_index") == nullptr);
  }
  // Repetition medians 11, 21.5, 30: mean 20.833, median 21.5.
  CHECK(rows[3].find("real_time")->number == doctest::Approx(62.5 / 3));
  CHECK(rows[4].find("real_time")->number == doctest::Approx(21.5));
  CHECK(rows[6].find("real_time")->number ==
        doctest::Approx(stddev_of(std::vector<double>{11, 21.5, 30}) / (62.5 / 3)));
  const JsonValue* median_llmk = rows[4].find("llmk");
  REQUIRE(median_llmk);
  CHECK(median_llmk->find("repetition_medians_ns")->array.size() == 3);
  CHECK(median_llmk->find("pooled_samples")->number == 10);
  CHECK(rows[7].find("family_index")->number == 1);
  CHECK(rows[14].find("error_occurred")->boolean);

  // An entry skipped in a later repetition is one error row, without aggregates.
  SuiteResult later_skip = suite;
  later_skip.results[1].skipped = "repetition 3 of 3: out of memory";
  auto skipped_doc = parse_json(format_json(later_skip));
  REQUIRE(skipped_doc.ok());
  const std::vector<JsonValue>& skipped_rows = skipped_doc->find("benchmarks")->array;
  REQUIRE(skipped_rows.size() == 9);
  CHECK(skipped_rows[7].find("name")->string == "ops/b");
  CHECK(skipped_rows[7].find("error_occurred")->boolean);

  // Read back as a baseline: one repetition per iteration row, aggregates ignored.
  auto baseline = parse_baseline(format_json(suite));
  REQUIRE(baseline.ok());
  REQUIRE(baseline->count("ops/a") == 1);
  CHECK(baseline->at("ops/a").repetition_medians_ns == std::vector<double>{11, 21.5, 30});
  CHECK(baseline->at("ops/a").mean_ns == doctest::Approx(suite.results[0].stats.mean));
  CHECK(baseline->at("ops/a").samples == 10);
  CHECK(baseline->count("ops/a_median") == 0);
  CHECK(baseline->count("tokenizer/gpt2") == 0);
  CHECK(max_repetitions(*baseline) == 3);
}

TEST_CASE("a baseline of one row per entry loads as one repetition and is inconclusive") {
  // One iteration row per entry, no aggregates: what a run of one repetition writes.
  const char* one_row = R"({"context": {"json_schema_version": 1}, "benchmarks": [
    {"name": "ops/dot/384", "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
     "iterations": 300, "real_time": 11, "cpu_time": 11, "time_unit": "ns",
     "llmk": {"median_ns": 11, "samples_ns": [10, 11, 12]}},
    {"name": "tokenizer/gpt2", "error_occurred": true, "error_message": "no vocabulary"}]})";
  auto baseline = parse_baseline(one_row);
  REQUIRE(baseline.ok());
  REQUIRE(baseline->count("ops/dot/384") == 1);
  CHECK(baseline->at("ops/dot/384").repetition_medians_ns == std::vector<double>{11});
  CHECK(max_repetitions(*baseline) == 1);

  SuiteResult now;
  now.results.push_back(result_with_repetitions(
      "ops/dot/384", {{30, 31}, {30, 32}, {31, 33}, {30, 30}, {31, 31}, {32, 32}, {30, 35},
                      {33, 31}, {30, 30}, {31, 30}}));
  const std::vector<Comparison> c = compare_with_baseline(now, *baseline);
  REQUIRE(c.size() == 1);
  CHECK(c[0].ratio > 2.5);  // far slower, and still no verdict from one repetition
  CHECK(c[0].verdict == Verdict::kInconclusive);
  CHECK(c[0].reason.find("1 vs 10 repetitions") != std::string::npos);
  CHECK(run_exit_code(c, 0) == kExitInconclusive);
}

TEST_CASE("baseline entries missing or skipped now are MISSING; filtered ones are not") {
  SuiteResult base_run = suite_with_repetitions();
  base_run.results.push_back(result_with_repetitions("ops/c", {{1}, {2}, {3}, {4}, {5}}));
  base_run.results.push_back(result_with_repetitions("quant/d", {{1}, {2}, {3}, {4}, {5}}));
  auto baseline = parse_baseline(format_json(base_run));
  REQUIRE(baseline.ok());

  SuiteResult now = suite_with_repetitions();  // ops/a, ops/b; no ops/c, no quant/d
  now.results[1].skipped = "setup failed";     // ops/b skipped now
  now.results.push_back(result_with_repetitions("ops/new", {{1}, {2}}));

  const std::vector<Comparison> all = compare_with_baseline(now, *baseline, "ops/");
  std::map<std::string, Comparison> by_name;
  for (const Comparison& c : all) by_name[c.name] = c;
  CHECK(by_name.at("ops/a").verdict == Verdict::kInconclusive);  // 3 vs 3 repetitions
  CHECK(by_name.at("ops/b").verdict == Verdict::kMissing);
  CHECK(by_name.at("ops/b").reason.find("skipped in this run: setup failed") != std::string::npos);
  CHECK(by_name.at("ops/c").verdict == Verdict::kMissing);
  CHECK(by_name.at("ops/new").verdict == Verdict::kNotInBaseline);
  CHECK(by_name.count("quant/d") == 0);  // outside the filter: not asked for
  CHECK(by_name.count("tokenizer/gpt2") == 0);  // skipped in the baseline too
  CHECK(run_exit_code(all, 0) == kExitMissing);
  CHECK(compare_with_baseline(now, *baseline).size() == all.size() + 1);  // no filter: quant/d too

  // Exit-code precedence: regression, missing, target failed, inconclusive.
  Comparison regression, missing, inconclusive, ok;
  regression.verdict = Verdict::kRegression;
  missing.verdict = Verdict::kMissing;
  inconclusive.verdict = Verdict::kInconclusive;
  CHECK(run_exit_code(std::vector<Comparison>{inconclusive, missing, regression}, 1) == kExitRegression);
  CHECK(run_exit_code(std::vector<Comparison>{inconclusive, missing}, 1) == kExitMissing);
  CHECK(run_exit_code(std::vector<Comparison>{inconclusive, ok}, 1) == kExitTargetFailed);
  CHECK(run_exit_code(std::vector<Comparison>{inconclusive, ok}, 0) == kExitInconclusive);
  CHECK(run_exit_code(std::vector<Comparison>{ok}, 0) == kExitOk);
  CHECK(run_exit_code({}, 2) == kExitTargetFailed);
}

TEST_CASE("failed targets are counted; n/a targets are not") {
  SuiteResult suite;
  BenchmarkResult r = result_with_repetitions("ops/x", {{100, 100}});
  r.targets = {{"spec", 200, 0}, {"tight", 40, 0}, {"cycles", 0, 10}};  // 50 ns/item: PASS, FAIL, n/a (no TSC)
  r.tsc_cycles_per_op = 0;
  suite.results.push_back(r);
  CHECK(count_failed_targets(suite) == 1);
}

TEST_CASE("the shuffled order is a permutation, fixed by seed and repetition") {
  const std::vector<size_t> a = shuffled_order(40, 7, 0);
  std::vector<size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == i);
  CHECK(shuffled_order(40, 7, 0) == a);
  CHECK(shuffled_order(40, 7, 1) != a);
  CHECK(shuffled_order(40, 8, 0) != a);
  CHECK(shuffled_order(0, 7, 0).empty());
  CHECK(shuffled_order(1, 7, 3) == std::vector<size_t>{0});
  // Every position is taken by every entry about equally often.
  std::vector<std::vector<int>> count(4, std::vector<int>(4, 0));
  for (uint64_t rep = 0; rep < 4000; ++rep) {
    const std::vector<size_t> o = shuffled_order(4, 99, rep);
    for (size_t pos = 0; pos < 4; ++pos) ++count[pos][o[pos]];
  }
  // Expected 1000 each; binomial sd ≈ 27, so ±150 is over 5 sd.
  for (const auto& row : count) {
    for (int c : row) CHECK(std::abs(c - 1000) < 150);
  }
}

TEST_CASE("the runner repeats every entry with its own setup, in a seeded shuffled order") {
  std::vector<std::string> setups;  // entry names, in the order their setups ran
  std::map<std::string, int> later_failure;  // entry → repetition (1-based) whose setup fails
  std::map<std::string, int> broken;  // entry → repetition (1-based) whose setup errs
  auto make_spec = [&](const std::string& name) {
    BenchmarkSpec s;
    s.name = name;
    s.setup = [&setups, &later_failure, &broken,
               name](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
      setups.push_back(name);
      const int so_far = static_cast<int>(std::count(setups.begin(), setups.end(), name));
      if (auto it = later_failure.find(name); it != later_failure.end() && so_far == it->second) {
        return absl::NotFoundError("input file gone");
      }
      if (auto it = broken.find(name); it != broken.end() && so_far == it->second) {
        return absl::InternalError("allocation failed");
      }
      return BatchFn([](uint64_t count) {
        for (uint64_t i = 0; i < count; ++i) clobber_memory();
        return absl::OkStatus();
      });
    };
    return s;
  };
  std::vector<BenchmarkSpec> specs;
  for (const char* n : {"t/a", "t/b", "t/c", "t/d", "t/e"}) specs.push_back(make_spec(n));
  BenchmarkConfig config;
  config.measurement_iterations = 4;
  config.warmup_iterations = 1;
  config.min_sample_time_s = 1e-6;
  config.max_warmup_s = 1e-3;
  config.progress = false;
  config.repetitions = 4;
  config.seed = 11;

  auto first = run_benchmarks(specs, config);
  REQUIRE(first.ok());
  CHECK(first->repetitions == 4);
  CHECK(first->seed == 11);
  REQUIRE(first->results.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    const BenchmarkResult& r = first->results[i];
    CHECK(r.name == specs[i].name);  // reported in registration order
    REQUIRE(r.repetitions.size() == 4);
    size_t samples = 0;
    uint64_t ops = 0;
    for (const RepetitionResult& rep : r.repetitions) {
      CHECK(rep.samples_ns.size() == 4);
      CHECK(rep.stats.n == 4);
      samples += rep.samples_ns.size();
      ops += rep.total_ops;
    }
    CHECK(r.samples_ns.size() == samples);
    CHECK(r.stats.n == samples);
    CHECK(r.total_ops == ops);
    CHECK(r.repetition_medians_ns().size() == 4);
  }
  // One setup per entry and repetition; each repetition runs every entry once,
  // in the order the seed gives.
  REQUIRE(setups.size() == 20);
  std::vector<std::vector<std::string>> orders;
  for (size_t rep = 0; rep < 4; ++rep) {
    std::vector<std::string> order(setups.begin() + rep * 5, setups.begin() + rep * 5 + 5);
    std::vector<std::string> expected;
    for (size_t i : shuffled_order(5, 11, rep)) expected.push_back(specs[i].name);
    CHECK(order == expected);
    orders.push_back(order);
  }
  CHECK(std::set<std::vector<std::string>>(orders.begin(), orders.end()).size() > 1);

  // The same seed, the same order.
  const std::vector<std::string> first_setups = setups;
  setups.clear();
  REQUIRE(run_benchmarks(specs, config).ok());
  CHECK(setups == first_setups);

  // A setup missing its input in a later repetition skips the entry, saying which.
  setups.clear();
  later_failure["t/c"] = 3;
  auto failing = run_benchmarks(specs, config);
  REQUIRE(failing.ok());
  CHECK(failing->results[2].skipped == "repetition 3 of 4: input file gone");
  CHECK(std::count(setups.begin(), setups.end(), "t/c") == 3);  // not tried again
  CHECK(failing->results[0].skipped.empty());

  // A setup failing in a later repetition ends the entry with that error.
  setups.clear();
  later_failure.clear();
  broken["t/d"] = 2;
  auto erring = run_benchmarks(specs, config);
  REQUIRE(erring.ok());
  CHECK(erring->results[3].error == "repetition 2 of 4: setup: INTERNAL: allocation failed");
  CHECK(erring->results[3].skipped.empty());
  CHECK(std::count(setups.begin(), setups.end(), "t/d") == 2);  // not tried again
  CHECK(entry_error_exit_code(*erring) == kExitEntryError);
  broken.clear();

  // One repetition keeps registration order.
  later_failure.clear();
  setups.clear();
  config.repetitions = 1;
  REQUIRE(run_benchmarks(specs, config).ok());
  CHECK(setups == std::vector<std::string>{"t/a", "t/b", "t/c", "t/d", "t/e"});
}

TEST_CASE("CSV has a repetitions column") {
  const std::string csv = format_csv(suite_with_repetitions());
  const std::string header = csv.substr(0, csv.find('\n'));
  CHECK(header.rfind("name,target,threads,repetitions,", 0) == 0);
  CHECK(csv.find("\nops/a,AVX2,1,3,") != std::string::npos);
  CHECK(csv.find("\ntokenizer/gpt2,,1,0,") != std::string::npos);
}

TEST_CASE("command line: repetitions, seed, quick, check-targets, baselines") {
  auto o = parse_cli({"--repetitions", "10", "--seed", "123", "--check-targets"});
  REQUIRE(o.ok());
  CHECK(o->config.repetitions == 10);
  CHECK(o->repetitions_given);
  CHECK(*o->config.seed == 123);
  CHECK(o->check_targets);
  CHECK_FALSE(parse_cli({"--repetitions", "0"}).ok());
  CHECK_FALSE(parse_cli({"--repetitions", "x"}).ok());
  CHECK_FALSE(parse_cli({"--seed", "9007199254740992"}).ok());  // 2^53
  auto plain = parse_cli({});
  REQUIRE(plain.ok());
  CHECK(plain->config.repetitions == 1);
  CHECK_FALSE(plain->config.seed.has_value());
  CHECK_FALSE(plain->repetitions_given);

  auto quick = parse_cli({"--quick"});
  REQUIRE(quick.ok());
  CHECK(quick->config.quick);
  CHECK(quick->config.repetitions == 1);
  CHECK(quick->config.measurement_iterations <= 10);
  CHECK(quick->config.max_time_s <= 0.01);
  CHECK(quick->config.max_warmup_s <= 0.01);
  // An explicit setting wins over --quick, before or after it.
  auto quick_more = parse_cli({"--iterations", "50", "--quick", "--repetitions", "3"});
  REQUIRE(quick_more.ok());
  CHECK(quick_more->config.measurement_iterations == 50);
  CHECK(quick_more->config.repetitions == 3);

  // A baseline needs repetitions the verdict can use.
  auto few = parse_cli({"--save-baseline", "b.json"});
  REQUIRE_FALSE(few.ok());
  CHECK(std::string(few.status().message()).find("--repetitions 5") != std::string::npos);
  CHECK_FALSE(parse_cli({"--save-baseline", "b.json", "--repetitions", "4"}).ok());
  CHECK(parse_cli({"--save-baseline", "b.json", "--repetitions", "5"}).ok());
  // With --baseline the count may come from the baseline: checked once known.
  auto later = parse_cli({"--save-baseline", "b.json", "--baseline", "a.json"});
  REQUIRE(later.ok());
  CHECK_FALSE(check_save_baseline(*later).ok());
  later->config.repetitions = 10;
  CHECK(check_save_baseline(*later).ok());
}

}  // namespace
}  // namespace llmk::bench
