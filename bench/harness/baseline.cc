#include "harness/baseline.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/json.h"
#include "harness/mann_whitney.h"
#include "harness/stats.h"
#include "harness/std_regex.h"
#include "harness/targets.h"

namespace llmk::bench {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kRegression: return "REGRESSION";
    case Verdict::kInconclusive: return "inconclusive";
    case Verdict::kMissing: return "MISSING";
    case Verdict::kNotInBaseline: return "new";
  }
  return "?";
}

RunSummary summarize(const BenchmarkResult& r) {
  RunSummary s;
  s.repetition_medians_ns = r.repetition_medians_ns();
  if (s.repetition_medians_ns.empty() && r.stats.n > 0) {
    s.repetition_medians_ns.push_back(r.stats.median);
  }
  s.mean_ns = r.stats.mean;
  s.samples = r.stats.n;
  return s;
}

Comparison compare_runs(const std::string& name, const RunSummary& baseline,
                        const RunSummary& current, const RegressionRule& rule) {
  Comparison c;
  c.name = name;
  const std::vector<double>& base = baseline.repetition_medians_ns;
  const std::vector<double>& cur = current.repetition_medians_ns;
  c.baseline_repetitions = base.size();
  c.current_repetitions = cur.size();
  c.baseline_median_ns = median_of(base);
  c.current_median_ns = median_of(cur);
  c.ratio = c.baseline_median_ns > 0 ? c.current_median_ns / c.baseline_median_ns : 0.0;
  c.mean_ratio = baseline.mean_ns > 0 ? current.mean_ns / baseline.mean_ns : 0.0;
  c.smallest_p = mann_whitney_smallest_p(cur.size(), base.size());
  if (!(c.smallest_p < rule.alpha)) {
    c.verdict = Verdict::kInconclusive;
    c.reason = absl::StrFormat(
        "%zu vs %zu repetitions: the U test cannot reach p < %g (smallest p %.3g); save the "
        "baseline and compare with --repetitions %zu",
        c.baseline_repetitions, c.current_repetitions, rule.alpha, c.smallest_p,
        kRecommendedRepetitions);
    return c;
  }
  c.p_value = mann_whitney_greater(cur, base).p_value;
  if (c.ratio > rule.max_ratio && c.p_value < rule.alpha) {
    c.verdict = Verdict::kRegression;
  } else if (c.ratio > rule.max_ratio) {
    // Slower by more than the bar, but the repetitions overlap too much to
    // say so at alpha: neither a regression nor a clean bill.
    c.verdict = Verdict::kInconclusive;
    c.reason = absl::StrFormat("median %.2fx but p = %.2g >= %g: too noisy to tell; rerun with "
                               "more repetitions",
                               c.ratio, c.p_value, rule.alpha);
  } else {
    c.verdict = Verdict::kOk;
  }
  return c;
}

absl::StatusOr<Baseline> parse_baseline(std::string_view json_text) {
  auto doc = parse_json(json_text);
  if (!doc.ok()) return doc.status();
  const JsonValue* benchmarks = doc->find("benchmarks");
  if (!benchmarks || benchmarks->type != JsonValue::Type::kArray) {
    return absl::InvalidArgumentError("baseline: no \"benchmarks\" array");
  }
  Baseline out;
  std::map<std::string, double> sums;  // of every sample, for the means
  for (const JsonValue& b : benchmarks->array) {
    const JsonValue* run_type = b.find("run_type");
    if (run_type && run_type->type == JsonValue::Type::kString && run_type->string != "iteration") {
      continue;  // aggregates are recomputed from the repetitions
    }
    const JsonValue* error = b.find("error_occurred");
    if (error && error->type == JsonValue::Type::kBool && error->boolean) continue;  // skipped
    const JsonValue* name = b.find("run_name");
    if (!name || name->type != JsonValue::Type::kString) name = b.find("name");
    if (!name || name->type != JsonValue::Type::kString) {
      return absl::InvalidArgumentError("baseline: a benchmark has no string \"name\"");
    }
    const JsonValue* extra = b.find("llmk");
    const JsonValue* samples = extra ? extra->find("samples_ns") : nullptr;
    if (!samples || samples->type != JsonValue::Type::kArray) {
      return absl::InvalidArgumentError(absl::StrCat(
          "baseline: benchmark '", name->string, "' has no llmk.samples_ns (raw samples); "
          "write baselines with llmk-bench --save-baseline or --json"));
    }
    std::vector<double> repetition;
    repetition.reserve(samples->array.size());
    for (const JsonValue& s : samples->array) {
      if (s.type != JsonValue::Type::kNumber) {
        return absl::InvalidArgumentError(
            absl::StrCat("baseline: non-numeric sample in '", name->string, "'"));
      }
      repetition.push_back(s.number);
    }
    if (repetition.empty()) continue;  // nothing measured: as if absent
    RunSummary& dst = out[name->string];
    dst.repetition_medians_ns.push_back(median_of(repetition));
    dst.samples += repetition.size();
    double& sum = sums[name->string];
    for (double v : repetition) sum += v;
  }
  for (auto& [name, summary] : out) {
    summary.mean_ns = sums[name] / static_cast<double>(summary.samples);
  }
  return out;
}

absl::StatusOr<Baseline> load_baseline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--baseline: cannot read '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_baseline(text.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--baseline '", path, "': ", parsed.status().message()));
  }
  return parsed;
}

size_t max_repetitions(const Baseline& baseline) {
  size_t most = 0;
  for (const auto& [name, summary] : baseline) {
    most = std::max(most, summary.repetition_medians_ns.size());
  }
  return most;
}

std::vector<Comparison> compare_with_baseline(const SuiteResult& current, const Baseline& baseline,
                                              const std::string& filter,
                                              const RegressionRule& rule) {
  std::vector<Comparison> out;
  std::map<std::string, const BenchmarkResult*> ran;
  for (const BenchmarkResult& r : current.results) ran[r.name] = &r;

  for (const BenchmarkResult& r : current.results) {
    if (!r.skipped.empty()) continue;  // a baseline entry skipped now is reported below
    const auto it = baseline.find(r.name);
    const RunSummary now = summarize(r);
    if (it == baseline.end()) {
      Comparison c;
      c.name = r.name;
      c.current_median_ns = median_of(now.repetition_medians_ns);
      c.current_repetitions = now.repetition_medians_ns.size();
      c.verdict = Verdict::kNotInBaseline;
      out.push_back(c);
      continue;
    }
    out.push_back(compare_runs(r.name, it->second, now, rule));
  }

  std::regex selected;
  bool use_filter = false;
  try {
    if (!filter.empty()) {
      selected = std::regex(filter, std::regex::ECMAScript);
      use_filter = true;
    }
  } catch (const std::regex_error&) {
    use_filter = false;  // the run itself rejects a bad filter; select everything
  }
  for (const auto& [name, summary] : baseline) {
    const auto it = ran.find(name);
    if (it != ran.end() && it->second->skipped.empty()) continue;
    const std::string base_name = name.substr(0, name.rfind('@'));
    if (use_filter && !std::regex_search(base_name, selected)) continue;  // not asked for
    Comparison c;
    c.name = name;
    c.baseline_median_ns = median_of(summary.repetition_medians_ns);
    c.baseline_repetitions = summary.repetition_medians_ns.size();
    c.verdict = Verdict::kMissing;
    c.reason = it == ran.end()
                   ? "not in this run: renamed, or run with other options?"
                   : absl::StrCat("skipped in this run: ", it->second->skipped);
    out.push_back(c);
  }
  return out;
}

size_t count_failed_targets(const SuiteResult& suite) {
  size_t failed = 0;
  for (const BenchmarkResult& r : suite.results) {
    for (const TargetCheck& c : check_targets(r, suite)) {
      // A target that could not be judged (no TSC, other entry not run) says n/a.
      if (c.judged && !c.pass && c.text.find("n/a") == std::string::npos) ++failed;
    }
  }
  return failed;
}

int run_exit_code(std::span<const Comparison> comparisons, size_t failed_targets) {
  bool regression = false, missing = false, inconclusive = false;
  for (const Comparison& c : comparisons) {
    regression |= c.verdict == Verdict::kRegression;
    missing |= c.verdict == Verdict::kMissing;
    inconclusive |= c.verdict == Verdict::kInconclusive;
  }
  if (regression) return kExitRegression;
  if (missing) return kExitMissing;
  if (failed_targets > 0) return kExitTargetFailed;
  if (inconclusive) return kExitInconclusive;
  return kExitOk;
}

}  // namespace llmk::bench
