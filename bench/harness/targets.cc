#include "harness/targets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "report/report.h"

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

}  // namespace

std::string base_name(const std::string& name) {
  const size_t at = name.rfind('@');
  return at == std::string::npos ? name : name.substr(0, at);
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
    if (t.max_ns_per_item > 0) {
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
  if (r.ratio_target) {
    TargetCheck c;
    const BenchmarkResult* other = find_result(suite, r.ratio_target->other, r.target);
    if (other && other->stats.median > 0 && r.stats.median > 0 && r.ratio_target->by_bytes) {
      const double ours = r.bytes_per_op / r.stats.median;
      const double theirs = other->bytes_per_op / other->stats.median;
      const double share = theirs > 0 ? ours / theirs : 0.0;
      c.pass = share >= r.ratio_target->min_speedup;
      c.text = absl::StrFormat("%.0f%% of %s GB/s (>=%.0f%%) %s", 100 * share,
                               r.ratio_target->other, 100 * r.ratio_target->min_speedup,
                               c.pass ? "PASS" : "FAIL");
    } else if (other && other->stats.median > 0 && r.stats.median > 0) {
      const double speedup = other->stats.median / r.stats.median;
      c.pass = speedup >= r.ratio_target->min_speedup;
      c.text = absl::StrFormat("%.2fx vs %s (>=%.2fx) %s", speedup, r.ratio_target->other,
                               r.ratio_target->min_speedup, c.pass ? "PASS" : "FAIL");
    } else {
      c.text = absl::StrCat("vs ", r.ratio_target->other, ": n/a (not run)");
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace llmk::bench
