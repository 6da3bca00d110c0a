#include "baseline.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "json.h"
#include "mann_whitney.h"
#include "report.h"
#include "stats.h"

namespace llmk::bench {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kRegression: return "REGRESSION";
    case Verdict::kInconclusive: return "inconclusive";
    case Verdict::kNotInBaseline: return "new";
  }
  return "?";
}

Comparison compare_samples(const std::string& name, std::span<const double> baseline_ns,
                           std::span<const double> current_ns, const RegressionRule& rule) {
  Comparison c;
  c.name = name;
  c.baseline_samples = baseline_ns.size();
  c.current_samples = current_ns.size();
  c.baseline_median_ns = median_of(baseline_ns);
  c.current_median_ns = median_of(current_ns);
  c.ratio = c.baseline_median_ns > 0 ? c.current_median_ns / c.baseline_median_ns : 0.0;
  if (baseline_ns.size() < rule.min_samples || current_ns.size() < rule.min_samples) {
    c.verdict = Verdict::kInconclusive;
    return c;
  }
  c.p_value = mann_whitney_greater(current_ns, baseline_ns).p_value;
  c.verdict = (c.ratio > rule.max_ratio && c.p_value < rule.alpha) ? Verdict::kRegression
                                                                    : Verdict::kOk;
  return c;
}

absl::StatusOr<BaselineSamples> parse_baseline(std::string_view json_text) {
  auto doc = parse_json(json_text);
  if (!doc.ok()) return doc.status();
  const JsonValue* benchmarks = doc->find("benchmarks");
  if (!benchmarks || benchmarks->type != JsonValue::Type::kArray) {
    return absl::InvalidArgumentError("baseline: no \"benchmarks\" array");
  }
  BaselineSamples out;
  for (const JsonValue& b : benchmarks->array) {
    const JsonValue* error = b.find("error_occurred");
    if (error && error->type == JsonValue::Type::kBool && error->boolean) continue;  // skipped
    const JsonValue* name = b.find("name");
    const JsonValue* extra = b.find("llmk");
    const JsonValue* samples = extra ? extra->find("samples_ns") : nullptr;
    if (!name || name->type != JsonValue::Type::kString) {
      return absl::InvalidArgumentError("baseline: a benchmark has no string \"name\"");
    }
    if (!samples || samples->type != JsonValue::Type::kArray) {
      return absl::InvalidArgumentError(absl::StrCat(
          "baseline: benchmark '", name->string, "' has no llmk.samples_ns (raw samples); "
          "write baselines with llmk-bench --save-baseline or --json"));
    }
    std::vector<double>& dst = out[name->string];
    for (const JsonValue& s : samples->array) {
      if (s.type != JsonValue::Type::kNumber) {
        return absl::InvalidArgumentError(
            absl::StrCat("baseline: non-numeric sample in '", name->string, "'"));
      }
      dst.push_back(s.number);
    }
  }
  return out;
}

absl::StatusOr<BaselineSamples> load_baseline(const std::string& path) {
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

std::vector<Comparison> compare_with_baseline(const SuiteResult& current,
                                              const BaselineSamples& baseline,
                                              const RegressionRule& rule) {
  std::vector<Comparison> out;
  for (const BenchmarkResult& r : current.results) {
    if (!r.skipped.empty()) continue;
    const auto it = baseline.find(r.name);
    if (it == baseline.end()) {
      Comparison c;
      c.name = r.name;
      c.current_median_ns = r.stats.median;
      c.current_samples = r.samples_ns.size();
      c.verdict = Verdict::kNotInBaseline;
      out.push_back(c);
      continue;
    }
    out.push_back(compare_samples(r.name, it->second, r.samples_ns, rule));
  }
  return out;
}

int comparison_exit_code(std::span<const Comparison> comparisons) {
  bool inconclusive = false;
  for (const Comparison& c : comparisons) {
    if (c.verdict == Verdict::kRegression) return 1;
    inconclusive |= c.verdict == Verdict::kInconclusive;
  }
  return inconclusive ? 2 : 0;
}

void print_comparisons(std::span<const Comparison> comparisons, std::FILE* out) {
  std::fprintf(out, "\nBaseline comparison (regression: median > 1.10x AND one-sided "
                    "Mann-Whitney p < 0.01)\n");
  std::fprintf(out, "%-44s %12s %12s %8s %10s  %s\n", "benchmark", "baseline", "current",
               "ratio", "p", "verdict");
  for (const Comparison& c : comparisons) {
    const std::string base =
        c.verdict == Verdict::kNotInBaseline ? "-" : format_ns(c.baseline_median_ns);
    std::string ratio = "-", p = "-";
    if (c.verdict != Verdict::kNotInBaseline) ratio = absl::StrFormat("%.3fx", c.ratio);
    if (c.verdict == Verdict::kOk || c.verdict == Verdict::kRegression) {
      p = absl::StrFormat("%.2g", c.p_value);
    }
    std::string verdict = verdict_name(c.verdict);
    if (c.verdict == Verdict::kInconclusive) {
      verdict += absl::StrCat(" (", c.baseline_samples, " vs ", c.current_samples,
                              " samples; need 10 a side)");
    }
    std::fprintf(out, "%-44s %12s %12s %8s %10s  %s\n", c.name.c_str(), base.c_str(),
                 format_ns(c.current_median_ns).c_str(), ratio.c_str(), p.c_str(),
                 verdict.c_str());
  }
}

}  // namespace llmk::bench
