#include "report/report.h"


#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "harness/affinity.h"
#include "harness/baseline.h"
#include "harness/json.h"
#include "harness/stats.h"
#include "harness/targets.h"


namespace llmk::bench {
namespace {

std::string format_joules(double j) {
  const double a = std::fabs(j);
  if (a >= 1) return absl::StrFormat("%.3g J", j);
  if (a >= 1e-3) return absl::StrFormat("%.3g mJ", j * 1e3);
  if (a >= 1e-6) return absl::StrFormat("%.3g uJ", j * 1e6);
  return absl::StrFormat("%.3g nJ", j * 1e9);
}

std::string cpu_list_or_none(const std::vector<int>& cpus) {
  return cpus.empty() ? std::string("none") : format_cpu_list(cpus);
}

// The sample count and statistics as JSON fields: `prefix`samples,
// `prefix`min_ns, ... (non-finite values left out).

}  // namespace

void print_summary(const SuiteResult& suite, std::FILE* out) {
  std::string pin =
      suite.pinned_cpu >= 0
          ? absl::StrCat("CPU ", suite.pinned_cpu, " (",
                         suite.pinned_cpu_isolated ? "isolated" : "not isolated", ", ",
                         suite.pinned_cpu_nohz_full ? "nohz_full" : "not nohz_full", ")")
          : "not pinned";
  absl::StrAppend(&pin, "; isolated CPUs ", cpu_list_or_none(suite.isolated_cpus),
                  ", nohz_full CPUs ", cpu_list_or_none(suite.nohz_full_cpus));
  std::fprintf(out, "llmk-bench: timer %s", suite.timer.c_str());
  if (suite.tsc_ghz > 0) std::fprintf(out, " (TSC %.3f GHz)", suite.tsc_ghz);
  if (!suite.timer_fallback.empty()) std::fprintf(out, " (%s)", suite.timer_fallback.c_str());
  std::string virt;
  if (suite.virtualized) {
    virt = absl::StrCat(", virtualised (", suite.hypervisor, ")");
  } else if (suite.hypervisor.rfind("unknown", 0) == 0) {
    virt = ", virtualisation unknown";
  }
  std::fprintf(out, ", %s, governor %s%s, energy %s\n", pin.c_str(), suite.governor.c_str(),
               virt.c_str(), suite.energy_source.c_str());
  // The Highway target(s) and the vector width each ran with.
  std::string kernels;
  for (const std::string& t : suite.targets_run) {
    size_t bytes = 0;
    for (const BenchmarkResult& r : suite.results) {
      if (r.target == t && r.vector_bytes > 0) bytes = r.vector_bytes;
    }
    const std::string width = bytes == 1  ? " (one lane: no vectors)"
                              : bytes > 1 ? absl::StrCat(" (", bytes * 8, "-bit vectors)")
                                          : "";
    absl::StrAppend(&kernels, kernels.empty() ? "" : ", ", t, width);
  }
  if (!kernels.empty()) std::fprintf(out, "llmk-bench: Highway target %s\n", kernels.c_str());
  for (const auto& [key, value] : suite.context) {
    std::fprintf(out, "llmk-bench: %s %s\n", key.c_str(), value.c_str());
  }
  if (!suite.energy_unavailable.empty()) {
    std::string why;
    for (const std::string& w : suite.energy_unavailable) absl::StrAppend(&why, "\n  ", w);
    std::fprintf(out, "llmk-bench: energy n/a:%s\n", why.c_str());
  }
  std::fprintf(out, "%-40s %9s %9s %9s %8s %11s %9s %12s %9s %9s  %s\n", "benchmark", "median",
               "p90", "min", "MAD", "samples", "cyc/item", "items/s", "GB/s", "GFLOP/s",
               "targets");
  size_t pass = 0, fail = 0;
  for (const BenchmarkResult& r : suite.results) {
    if (!r.skipped.empty()) {
      std::fprintf(out, "%-40s skipped: %s\n", r.name.c_str(), r.skipped.c_str());
      continue;
    }
    if (!r.error.empty()) {
      std::fprintf(out, "%-40s error: %s\n", r.name.c_str(), r.error.c_str());
      continue;
    }
    const BenchmarkStats& s = r.stats;
    const std::string samples = absl::StrCat(s.n, "x", r.batch_size);
    const std::string cycles =
        r.tsc_cycles_per_op > 0 ? absl::StrFormat("%.3g", r.tsc_cycles_per_op / r.items_per_op)
                                : "n/a";
    const std::string gbs =
        r.bytes_per_op > 0 ? absl::StrFormat("%.3g", r.bytes_per_second / 1e9) : "";
    const std::string gflops =
        r.flops_per_op > 0 ? absl::StrFormat("%.3g", r.flops_per_second / 1e9) : "";
    std::string targets;
    for (const TargetCheck& c : check_targets(r, suite)) {
      if (c.judged && !c.text.empty() && c.text.find("n/a") == std::string::npos) {
        (c.pass ? pass : fail)++;
      }
      absl::StrAppend(&targets, targets.empty() ? "" : "; ", c.text);
    }
    std::fprintf(out, "%-40s %9s %9s %9s %8s %11s %9s %12s %9s %9s  %s\n", r.name.c_str(),
                 format_ns(s.median).c_str(), format_ns(s.p90).c_str(), format_ns(s.min).c_str(),
                 format_ns(s.mad).c_str(), samples.c_str(), cycles.c_str(),
                 format_rate(r.items_per_second, "").c_str(), gbs.c_str(), gflops.c_str(),
                 targets.c_str());
  }
  if (pass + fail > 0) {
    std::fprintf(out, "targets: %zu PASS, %zu FAIL\n", pass, fail);
  }
  print_energy(suite, out);
  print_item_latencies(suite, out);
  for (ReportSectionFn section : report_sections()) section(suite, out);
}

void print_item_latencies(const SuiteResult& suite, std::FILE* out) {
  bool header = false;
  for (const BenchmarkResult& r : suite.results) {
    if (!r.skipped.empty() || !r.error.empty() || (!r.item_latency && r.phases.empty())) continue;
    if (!header) {
      std::fprintf(out, "\nlatency per item (pooled over samples and repetitions) and phase rates\n");
      std::fprintf(out, "%-40s %9s %9s %9s %9s %8s  %s\n", "benchmark", "p50", "p90", "p99", "max",
                   "n", "phases");
      header = true;
    }
    std::string phases;
    for (const PhaseTime& p : r.phases) {
      absl::StrAppend(&phases, phases.empty() ? "" : ", ",
                      absl::StrFormat("%s %.1f %ss/s", p.name, p.items_per_second(), r.item_name));
    }
    if (r.item_latency) {
      const ItemLatencyStats& l = *r.item_latency;
      std::fprintf(out, "%-40s %9s %9s %9s %9s %8zu  %s\n", r.name.c_str(), format_ns(l.p50).c_str(),
                   format_ns(l.p90).c_str(), format_ns(l.p99).c_str(), format_ns(l.max).c_str(), l.n,
                   phases.c_str());
    } else {
      std::fprintf(out, "%-40s %9s %9s %9s %9s %8s  %s\n", r.name.c_str(), "", "", "", "", "",
                   phases.c_str());
    }
  }
}

std::vector<ReportSectionFn>& report_sections() {
  static std::vector<ReportSectionFn> sections;  // function-local: safe from initialisation order
  return sections;
}

bool register_report_section(ReportSectionFn fn) {
  report_sections().push_back(fn);
  return true;
}

void print_energy(const SuiteResult& suite, std::FILE* out) {
  bool header = false;
  for (const BenchmarkResult& r : suite.results) {
    if (!r.skipped.empty() || (!r.energy_joules_per_op && r.energy_status.empty())) continue;
    if (!header) {
      std::fprintf(out, "\nenergy from %s (the whole package: idle and other cores included)\n",
                   suite.energy_source.c_str());
      header = true;
    }
    const std::optional<double> per_item = energy_joules_per_item(r);
    if (!per_item) {
      std::fprintf(out, "%-40s n/a: %s\n", r.name.c_str(), r.energy_status.c_str());
      continue;
    }
    std::string line = absl::StrCat(format_joules(*per_item), "/", r.item_name);
    if (r.item_name == "token" && *per_item > 0) {
      absl::StrAppend(&line, absl::StrFormat("  %.4g tokens/J", 1.0 / *per_item));
    }
    std::fprintf(out, "%-40s %s\n", r.name.c_str(), line.c_str());
  }
}

void print_repetitions(const SuiteResult& suite, std::FILE* out) {
  bool any = false;
  for (const BenchmarkResult& r : suite.results) any |= r.repetitions.size() > 1;
  if (!any) return;
  std::fprintf(out, "\nrepetitions: %zu per entry, shuffled order (seed %llu); each repetition's "
                    "median\n%-40s %9s %9s %9s %7s\n",
               suite.repetitions, static_cast<unsigned long long>(suite.seed), "benchmark",
               "median", "min", "max", "cv");
  for (const BenchmarkResult& r : suite.results) {
    if (r.repetitions.size() < 2 || !r.skipped.empty()) continue;
    const std::vector<double> medians = r.repetition_medians_ns();
    const double mean = mean_of(medians);
    std::vector<double> sorted = medians;
    std::sort(sorted.begin(), sorted.end());
    std::fprintf(out, "%-40s %9s %9s %9s %6.2f%%\n", r.name.c_str(),
                 format_ns(median_of(medians)).c_str(), format_ns(sorted.front()).c_str(),
                 format_ns(sorted.back()).c_str(),
                 mean > 0 ? 100.0 * stddev_of(medians) / mean : 0.0);
  }
}

void print_counters(const SuiteResult& suite, std::FILE* out) {
  bool header = false;
  // reason → events, in first-seen order, printed once under the table.
  std::vector<std::pair<std::string, std::vector<std::string>>> not_counted;
  auto note = [&](const std::string& reason, const std::string& event) {
    auto it = std::find_if(not_counted.begin(), not_counted.end(),
                           [&](const auto& p) { return p.first == reason; });
    if (it == not_counted.end()) it = not_counted.insert(not_counted.end(), {reason, {}});
    if (std::find(it->second.begin(), it->second.end(), event) == it->second.end()) {
      it->second.push_back(event);
    }
  };
  auto fixed = [](const std::optional<double>& v, int decimals, double scale, const char* suffix) {
    if (!v) return std::string("n/a");
    return absl::StrCat(absl::StrFormat("%.*f", decimals, *v * scale), suffix);
  };
  auto general = [](const std::optional<double>& v) {
    return v ? absl::StrFormat("%.4g", *v) : std::string("n/a");
  };
  for (const BenchmarkResult& r : suite.results) {
    if (r.counters.empty() || !r.skipped.empty() || !r.error.empty()) continue;
    if (!header) {
      std::fprintf(out,
                   "\nperf counters (n/a: did not run, reasons below; (NN%%): share of the time "
                   "its group was counted, counts scaled up by the kernel's multiplexing)\n");
      if (!suite.counter_capacity.empty()) {
        std::fprintf(out, "hardware counters: %s\n", suite.counter_capacity.c_str());
      }
      if (!suite.simd_events.empty()) {
        std::fprintf(out, "SIMD share: %s\n", suite.simd_events.c_str());
      }
      std::fprintf(out, "%-40s %-10s %7s %9s %6s %9s %9s %10s %8s %8s %6s  %s\n", "benchmark",
                   "target", "vector", "median", "IPC", "cyc/item", "ins/item", "cache-miss",
                   "L1D-miss", "br-miss", "SIMD", "counted");
      header = true;
    }
    const CounterMetrics& m = r.counter_metrics;
    // "-": an entry no Highway target affects (e.g. OpenBLAS).
    const std::string vector = r.target == "-"      ? "-"
                               : r.vector_bytes > 0 ? absl::StrCat(r.vector_bytes, " B")
                                                    : "n/a";
    std::fprintf(out, "%-40s %-10s %7s %9s %6s %9s %9s %10s %8s %8s %6s  %s\n", r.name.c_str(),
                 r.target.c_str(), vector.c_str(), format_ns(r.stats.median).c_str(),
                 fixed(m.ipc, 2, 1.0, "").c_str(), general(m.cycles_per_item).c_str(),
                 general(m.instructions_per_item).c_str(),
                 fixed(m.cache_miss_rate, 1, 100.0, "%").c_str(),
                 fixed(m.l1d_miss_rate, 2, 100.0, "%").c_str(),
                 fixed(m.branch_miss_rate, 2, 100.0, "%").c_str(),
                 fixed(m.simd_share, 1, 100.0, "%").c_str(), r.counted_threads.c_str());
    std::string line;
    for (const CounterResult& c : r.counters) {
      if (c.per_op) {
        const double per_item = *c.per_op / (r.items_per_op > 0 ? r.items_per_op : 1.0);
        absl::StrAppend(&line, "  ", c.event, " ", absl::StrFormat("%.4g", per_item),
                        absl::StrFormat(" (%.0f%%)", 100.0 * c.running_fraction));
      } else {
        absl::StrAppend(&line, "  ", c.event, " n/a");
        note(c.status, c.event);
      }
    }
    if (r.energy_joules_per_op) {
      absl::StrAppend(&line, absl::StrFormat("  energy %.4g J/op", *r.energy_joules_per_op));
    }
    std::fprintf(out, "    per %s:%s\n", r.item_name.c_str(), line.c_str());
  }
  if (!not_counted.empty()) {
    std::fprintf(out, "n/a reasons:\n");
    for (const auto& [reason, events] : not_counted) {
      std::fprintf(out, "  %s: %s\n", absl::StrJoin(events, ", ").c_str(), reason.c_str());
    }
  }
}

void print_target_table(const SuiteResult& suite, std::FILE* out) {
  if (suite.targets_run.size() < 2) return;
  std::vector<std::string> names;
  std::map<std::string, std::map<std::string, double>> median;  // name → target → ns
  for (const BenchmarkResult& r : suite.results) {
    if (!r.skipped.empty() || !r.error.empty() || r.name.find('@') == std::string::npos) continue;
    const std::string b = base_name(r.name);
    if (!median.count(b)) names.push_back(b);
    median[b][r.target] = r.stats.median;
  }
  if (names.empty()) return;
  const std::string& scalar = suite.targets_run.back();  // supported_targets() ends with it
  std::fprintf(out, "\nmedian per target, and speedup over %s\n%-32s", scalar.c_str(),
               "benchmark");
  for (const std::string& t : suite.targets_run) std::fprintf(out, " %17s", t.c_str());
  std::fprintf(out, "\n");
  for (const std::string& n : names) {
    std::fprintf(out, "%-32s", n.c_str());
    const auto& row = median[n];
    const auto sc = row.find(scalar);
    for (const std::string& t : suite.targets_run) {
      const auto it = row.find(t);
      std::string cell = "-";
      if (it != row.end()) {
        cell = format_ns(it->second);
        if (sc != row.end() && it->second > 0) {
          absl::StrAppend(&cell, absl::StrFormat(" %5.1fx", sc->second / it->second));
        }
      }
      std::fprintf(out, " %17s", cell.c_str());
    }
    std::fprintf(out, "\n");
  }
}


void print_comparisons(std::span<const Comparison> comparisons, std::FILE* out,
                       const RegressionRule& rule) {
  std::fprintf(out,
               "\nBaseline comparison on repetition medians (regression: median ratio > %.2f AND "
               "one-sided Mann-Whitney p < %g;\n'mean' is the spec's rule, mean ratio > %.2f (marked "
               "!), shown for reference)\n",
               rule.max_ratio, rule.alpha, rule.max_ratio);
  std::fprintf(out, "%-44s %10s %10s %8s %8s %9s %7s  %s\n", "benchmark", "baseline", "current",
               "ratio", "mean", "p", "reps", "verdict");
  for (const Comparison& c : comparisons) {
    const bool has_base = c.verdict != Verdict::kNotInBaseline;
    const bool has_current = c.verdict != Verdict::kMissing;
    const bool both = has_base && has_current;
    const std::string base = has_base ? format_ns(c.baseline_median_ns) : "-";
    const std::string cur = has_current ? format_ns(c.current_median_ns) : "-";
    const std::string ratio = both ? absl::StrFormat("%.3fx", c.ratio) : "-";
    std::string mean = "-";
    if (both && c.mean_ratio > 0) {
      mean = absl::StrFormat("%.3fx%s", c.mean_ratio, c.mean_ratio > rule.max_ratio ? "!" : "");
    }
    const bool tested = c.verdict == Verdict::kOk || c.verdict == Verdict::kRegression ||
                        (c.verdict == Verdict::kInconclusive && c.smallest_p < rule.alpha);
    const std::string p = tested ? absl::StrFormat("%.2g", c.p_value) : "-";
    const std::string reps = absl::StrCat(has_base ? absl::StrCat(c.baseline_repetitions) : "-",
                                          "/", has_current ? absl::StrCat(c.current_repetitions) : "-");
    std::string verdict = verdict_name(c.verdict);
    if (!c.reason.empty()) absl::StrAppend(&verdict, " (", c.reason, ")");
    std::fprintf(out, "%-44s %10s %10s %8s %8s %9s %7s  %s\n", c.name.c_str(), base.c_str(),
                 cur.c_str(), ratio.c_str(), mean.c_str(), p.c_str(), reps.c_str(),
                 verdict.c_str());
  }
}

}  // namespace llmk::bench
