#include "harness/targets.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/units.h"

namespace llmk::bench {
namespace {

const BenchmarkResult* find_result(const SuiteResult& suite, const std::string& name,
                                   const std::string& target) {
  const BenchmarkResult* fallback = nullptr;
  for (const BenchmarkResult& r : suite.results) {
    if (base_name(r.name) != name || !r.skipped.empty() || !r.error.empty()) continue;
    if (r.target == target) return &r;
    if (!fallback) fallback = &r;  // a target-independent entry (e.g. OpenBLAS)
  }
  return fallback;
}

std::string item_time(double ns, const std::string& item) {
  return absl::StrCat(format_ns(ns), "/", item);
}

// The speedup a ratio target asks of `r`: its floor, raised for each
// doubling of the vector width `r` ran under beyond 128 bits when the target
// scales with the width.
double required_speedup(const BenchmarkResult& r, const RatioTarget& t) {
  if (t.speedup_per_width_doubling <= 0 || r.vector_bytes <= 16) return t.min_speedup;
  const double doublings = std::log2(static_cast<double>(r.vector_bytes) / 16.0);
  return t.min_speedup + t.speedup_per_width_doubling * doublings;
}

TargetCheck check_ratio(const BenchmarkResult& r, const RatioTarget& t, const SuiteResult& suite) {
  TargetCheck c;
  c.other = t.other;
  const BenchmarkResult* other = find_result(suite, t.other, r.target);
  const bool measured = other && other->stats.median > 0 && r.stats.median > 0;
  if (measured && t.other.ends_with(kScalarCompanionSuffix) && other->target == r.target) {
    // Both under the scalar fallback (--target scalar): the ratio says nothing.
    c.text = absl::StrCat("vs ", t.other, ": n/a (same target ", r.target, ")");
  } else if (measured && t.by_bytes) {
    const double ours = r.bytes_per_op / r.stats.median;
    const double theirs = other->bytes_per_op / other->stats.median;
    c.ratio = theirs > 0 ? ours / theirs : 0.0;
    c.required = t.min_speedup;
    c.pass = c.ratio >= c.required;
    c.text = absl::StrFormat("%.0f%% of %s GB/s (>=%.0f%%) %s", 100 * c.ratio, t.other,
                             100 * c.required, c.pass ? "PASS" : "FAIL");
  } else if (measured) {
    c.ratio = other->stats.median / r.stats.median;
    c.required = required_speedup(r, t);
    c.pass = c.ratio >= c.required;
    c.text = absl::StrFormat("%.2fx vs %s (>=%.2fx) %s", c.ratio, t.other, c.required,
                             c.pass ? "PASS" : "FAIL");
  } else {
    c.text = absl::StrCat("vs ", t.other, ": n/a (not run)");
  }
  return c;
}

}  // namespace

std::string base_name(const std::string& name) {
  const size_t at = name.rfind('@');
  return at == std::string::npos ? name : name.substr(0, at);
}

BenchmarkSpec scalar_companion(const BenchmarkSpec& spec) {
  BenchmarkSpec s = spec;
  s.name = spec.name + kScalarCompanionSuffix;
  s.targets.clear();
  s.ratio_targets.clear();
  s.fixed_target = "scalar";
  s.per_target = true;  // it does depend on the target: the one it is fixed to
  return s;
}

RatioTarget scalar_ratio_target(const std::string& name, double min_speedup_at_128_bits,
                                double speedup_per_width_doubling) {
  RatioTarget t;
  t.other = name + kScalarCompanionSuffix;
  t.min_speedup = min_speedup_at_128_bits;
  t.speedup_per_width_doubling = speedup_per_width_doubling;
  return t;
}

std::vector<TargetCheck> check_targets(const BenchmarkResult& r, const SuiteResult& suite) {
  std::vector<TargetCheck> out;
  if (!r.skipped.empty() || !r.error.empty() || r.stats.n == 0) return out;
  const double ns_per_item = r.stats.median / r.items_per_op;
  for (const SpeedTarget& t : r.targets) {
    if (t.max_ns_per_item <= 0 && t.max_cycles_per_item <= 0 && !t.label.empty()) {
      TargetCheck note;
      note.text = t.label;
      note.judged = false;
      out.push_back(note);
    }
    if (t.max_ns_per_item > 0 && t.on == TargetOn::kP99ItemLatency) {
      TargetCheck c;
      const std::string bound = absl::StrCat(t.label, " p99 <=", item_time(t.max_ns_per_item, r.item_name));
      if (r.item_latency && r.item_latency->n > 0) {
        c.pass = r.item_latency->p99 <= t.max_ns_per_item;
        c.text = absl::StrCat(bound, " ", c.pass ? "PASS" : "FAIL");
      } else {
        c.text = absl::StrCat(bound, " n/a (no per-item latencies)");
      }
      out.push_back(c);
    } else if (t.max_ns_per_item > 0) {
      TargetCheck c;
      c.pass = ns_per_item <= t.max_ns_per_item;
      c.text = absl::StrCat(t.label, " <=", item_time(t.max_ns_per_item, r.item_name), " ",
                            c.pass ? "PASS" : "FAIL");
      out.push_back(c);
    }
    if (t.max_cycles_per_item > 0) {
      TargetCheck c;
      if (r.tsc_cycles_per_op > 0) {
        c.pass = r.tsc_cycles_per_op / r.items_per_op <= t.max_cycles_per_item;
        c.text = absl::StrFormat("%s <=%g cyc/%s %s", t.label, t.max_cycles_per_item,
                                 r.item_name, c.pass ? "PASS" : "FAIL");
      } else {
        c.text = absl::StrFormat("%s <=%g cyc/%s n/a (no TSC)", t.label, t.max_cycles_per_item,
                                 r.item_name);
      }
      out.push_back(c);
    }
  }
  for (const RatioTarget& t : r.ratio_targets) out.push_back(check_ratio(r, t, suite));
  return out;
}

}  // namespace llmk::bench
