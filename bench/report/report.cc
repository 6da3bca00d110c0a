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
#include "harness/json.h"
#include "harness/stats.h"
#include "harness/targets.h"

namespace llmk::bench {
namespace {

std::string csv_number(double v, bool present = true) {
  if (!present || !std::isfinite(v)) return "";
  return absl::StrFormat("%.6g", v);
}

// "12.3 mJ": joules with an SI prefix, three significant digits.
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
void write_stats_fields(JsonWriter& w, const BenchmarkStats& s, std::string_view prefix) {
  w.key(std::string(prefix) + "samples"); w.value(static_cast<unsigned long long>(s.n));
  const std::pair<const char*, double> fields[] = {
      {"min_ns", s.min},       {"max_ns", s.max}, {"mean_ns", s.mean}, {"median_ns", s.median},
      {"stddev_ns", s.stddev}, {"p90_ns", s.p90}, {"p99_ns", s.p99},   {"mad_ns", s.mad}};
  for (const auto& [name, value] : fields) w.number_field(std::string(prefix) + name, value);
}

// One repetition of an entry seen as a result of its own, for its JSON row.
BenchmarkResult repetition_view(const BenchmarkResult& entry, size_t index,
                                const SuiteResult& suite) {
  const RepetitionResult& rep = entry.repetitions[index];
  BenchmarkResult r = entry;
  r.repetitions.clear();
  r.batch_size = rep.batch_size;
  r.total_ops = rep.total_ops;
  r.samples_ns = rep.samples_ns;
  r.stats = rep.stats;
  r.cpu_ns_per_op = rep.cpu_ns_per_op;
  r.counters = rep.counters;
  r.counter_metrics = rep.counter_metrics;
  r.energy_joules_per_op = rep.energy_joules_per_op;
  if (entry.tsc_cycles_per_op > 0) r.tsc_cycles_per_op = rep.stats.median * suite.tsc_ghz;
  r.items_per_second = per_second(r.items_per_op, rep.stats.median);
  r.bytes_per_second = per_second(r.bytes_per_op, rep.stats.median);
  r.flops_per_second = per_second(r.flops_per_op, rep.stats.median);
  return r;
}

// One JSON row of benchmarks[]: an entry, or one repetition of it.
struct JsonRow {
  const BenchmarkResult* result;
  const BenchmarkResult* entry;
  long long family_index;
  size_t repetition, repetitions;
};

// google/benchmark's aggregate rows over an entry's repetitions: mean,
// median, stddev and cv (stddev / mean, aggregate_unit "percentage", as a
// fraction) of real_time (each repetition's median), cpu_time and the rate.
// The median row also carries, under "llmk", each repetition's median and
// the statistics of every sample pooled.
void write_aggregates(JsonWriter& w, const BenchmarkResult& entry, long long family_index) {
  std::vector<double> real, cpu, rate;
  for (const RepetitionResult& rep : entry.repetitions) {
    real.push_back(rep.stats.median);
    cpu.push_back(rep.cpu_ns_per_op);
    rate.push_back(per_second(entry.items_per_op, rep.stats.median));
  }
  struct Aggregate {
    const char* name;
    double (*of)(std::span<const double>);
  };
  const Aggregate aggregates[] = {
      {"mean", mean_of},
      {"median", median_of},
      {"stddev", stddev_of},
      {"cv", [](std::span<const double> x) {
         const double mean = mean_of(x);
         return mean != 0.0 ? stddev_of(x) / mean : 0.0;
       }}};
  for (const Aggregate& a : aggregates) {
    const bool cv = std::string_view(a.name) == "cv";
    w.begin_object();
    w.key("name"); w.value(absl::StrCat(entry.name, "_", a.name));
    w.key("family_index"); w.value(family_index);
    w.key("per_family_instance_index"); w.value(0LL);
    w.key("run_name"); w.value(entry.name);
    w.key("run_type"); w.value("aggregate");
    w.key("repetitions"); w.value(static_cast<unsigned long long>(entry.repetitions.size()));
    w.key("threads"); w.value(static_cast<long long>(entry.threads));
    w.key("aggregate_name"); w.value(a.name);
    w.key("aggregate_unit"); w.value(cv ? "percentage" : "time");
    w.key("iterations"); w.value(static_cast<unsigned long long>(entry.repetitions.size()));
    w.number_field("real_time", a.of(real));
    w.number_field("cpu_time", a.of(cpu));
    w.key("time_unit"); w.value("ns");
    w.number_field("items_per_second", a.of(rate));
    if (std::string_view(a.name) == "median") {
      const BenchmarkStats& s = entry.stats;
      w.key("llmk");
      w.begin_object();
      w.key("repetition_medians_ns");
      w.begin_array();
      for (double v : real) w.value(v);
      w.end_array();
      write_stats_fields(w, s, "pooled_");
      w.end_object();
    }
    w.end_object();
  }
}

constexpr const char* kCounterCsvColumns =
    "vector_bytes,counted_threads,ipc,cycles_per_item,instructions_per_item,cache_miss_rate,"
    "l1d_miss_rate,branch_miss_rate,simd_share";

// The counter columns of one row; an empty cell where a metric is n/a.
std::string counter_csv_cells(const BenchmarkResult& r) {
  const bool ran = r.skipped.empty() && r.error.empty();
  std::string threads = r.counted_threads;
  for (char& c : threads) {
    if (c == ',' || c == '"' || c == '\n') c = ';';
  }
  const CounterMetrics& m = r.counter_metrics;
  auto cell = [&](const std::optional<double>& v) { return csv_number(v.value_or(0), ran && v.has_value()); };
  const bool vector_known = ran && r.target != "-" && r.vector_bytes > 0;
  return absl::StrCat(vector_known ? absl::StrCat(r.vector_bytes) : "", ",", threads,
                      ",", cell(m.ipc), ",", cell(m.cycles_per_item), ",",
                      cell(m.instructions_per_item), ",", cell(m.cache_miss_rate), ",",
                      cell(m.l1d_miss_rate), ",", cell(m.branch_miss_rate), ",",
                      cell(m.simd_share));
}

}  // namespace

std::optional<double> energy_joules_per_item(const BenchmarkResult& r) {
  if (!r.energy_joules_per_op || !(r.items_per_op > 0)) return std::nullopt;
  return *r.energy_joules_per_op / r.items_per_op;
}

std::string format_ns(double ns) {
  if (!std::isfinite(ns)) return "n/a";
  const double a = std::fabs(ns);
  if (a < 1e3) return absl::StrFormat("%.3g ns", ns);
  if (a < 1e6) return absl::StrFormat("%.3g us", ns / 1e3);
  if (a < 1e9) return absl::StrFormat("%.3g ms", ns / 1e6);
  return absl::StrFormat("%.3g s", ns / 1e9);
}

std::string format_rate(double per_second, const char* unit) {
  static const char* prefixes[] = {"", "k", "M", "G", "T"};
  int p = 0;
  while (per_second >= 1000.0 && p < 4) {
    per_second /= 1000.0;
    ++p;
  }
  return absl::StrFormat("%.3g %s%s", per_second, prefixes[p], unit);
}

std::optional<double> counter_per_op(const BenchmarkResult& r, const std::string& event) {
  for (const CounterResult& c : r.counters) {
    if (c.event == event && c.per_op) return c.per_op;
  }
  return std::nullopt;
}

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

std::string format_json(const SuiteResult& suite) {
  JsonWriter w;
  w.begin_object();
  w.key("context");
  w.begin_object();
  {
    const std::time_t now = std::time(nullptr);
    char date[64];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    w.key("date"); w.value(date);
    w.key("host_name"); w.value(host);
    w.key("executable"); w.value("llmk-bench");
    w.key("num_cpus"); w.value(static_cast<long long>(std::thread::hardware_concurrency()));
    w.number_field("mhz_per_cpu", std::round(suite.tsc_ghz * 1000.0));
    w.key("cpu_scaling_enabled"); w.value(suite.governor != "performance" && suite.governor != "unknown");
    w.key("caches"); w.begin_array(); w.end_array();
    w.key("library_build_type"); w.value("release");
    w.key("json_schema_version"); w.value(1LL);
    for (const auto& [key, value] : suite.context) {  // e.g. the peer's version
      w.key(key); w.value(value);
    }
    w.key("llmk");
    w.begin_object();
    w.key("timer"); w.value(suite.timer);
    w.number_field("tsc_ghz", suite.tsc_ghz);
    w.key("pinned_cpu"); w.value(static_cast<long long>(suite.pinned_cpu));
    w.key("timer_fallback"); w.value(suite.timer_fallback);
    w.key("isolated_cpus"); w.value(format_cpu_list(suite.isolated_cpus));
    w.key("nohz_full_cpus"); w.value(format_cpu_list(suite.nohz_full_cpus));
    w.key("pinned_cpu_isolated"); w.value(suite.pinned_cpu_isolated);
    w.key("pinned_cpu_nohz_full"); w.value(suite.pinned_cpu_nohz_full);
    w.key("governor"); w.value(suite.governor);
    w.key("virtualized"); w.value(suite.virtualized);
    w.key("hypervisor"); w.value(suite.hypervisor);
    w.key("energy_source"); w.value(suite.energy_source);
    w.key("energy_unavailable");
    w.begin_array();
    for (const std::string& t : suite.energy_unavailable) w.value(t);
    w.end_array();
    w.key("repetitions"); w.value(static_cast<unsigned long long>(suite.repetitions));
    w.key("shuffle_seed"); w.value(static_cast<unsigned long long>(suite.seed));
    w.key("quick"); w.value(suite.quick);
    if (!suite.counter_capacity.empty()) {
      w.key("counter_capacity"); w.value(suite.counter_capacity);
    }
    if (!suite.simd_events.empty()) {
      w.key("simd_events"); w.value(suite.simd_events);
    }
    w.key("real_time"); w.value("median of per-operation samples");
    w.key("targets_run");
    w.begin_array();
    for (const std::string& t : suite.targets_run) w.value(t);
    w.end_array();
    w.key("warnings");
    w.begin_array();
    for (const std::string& t : suite.warnings) w.value(t);
    w.end_array();
    w.end_object();
  }
  w.end_object();
  w.key("benchmarks");
  w.begin_array();
  // An entry of several repetitions gets one "iteration" row per
  // repetition, then its aggregate rows, as google/benchmark writes them.
  std::vector<BenchmarkResult> views;
  views.reserve(suite.results.size());
  for (const BenchmarkResult& entry : suite.results) {
    const bool several = entry.repetitions.size() > 1 && entry.skipped.empty();
    for (size_t i = 0; several && i < entry.repetitions.size(); ++i) {
      views.push_back(repetition_view(entry, i, suite));
    }
  }
  std::vector<JsonRow> rows;
  size_t next_view = 0;
  for (size_t e = 0; e < suite.results.size(); ++e) {
    const BenchmarkResult& entry = suite.results[e];
    // A skipped entry is one error row, whatever repetitions it had done.
    const size_t reps = entry.skipped.empty() ? entry.repetitions.size() : 0;
    if (reps < 2) rows.push_back({&entry, &entry, static_cast<long long>(e), 0, 1});
    for (size_t i = 0; reps > 1 && i < reps; ++i) {
      rows.push_back({&views[next_view++], &entry, static_cast<long long>(e), i, reps});
    }
  }
  for (const JsonRow& row : rows) {
    const BenchmarkResult& r = *row.result;
    w.begin_object();
    w.key("name"); w.value(r.name);
    w.key("family_index"); w.value(row.family_index);
    w.key("per_family_instance_index"); w.value(0LL);
    w.key("run_name"); w.value(r.name);
    w.key("run_type"); w.value("iteration");
    w.key("repetitions"); w.value(static_cast<unsigned long long>(row.repetitions));
    w.key("repetition_index"); w.value(static_cast<unsigned long long>(row.repetition));
    w.key("threads"); w.value(static_cast<long long>(r.threads));
    if (!r.skipped.empty() || !r.error.empty()) {
      // Both are google/benchmark errors (a baseline ignores them); llmk.skipped
      // tells a missing optional input from a failure.
      w.key("error_occurred"); w.value(true);
      w.key("error_message"); w.value(r.error.empty() ? r.skipped : r.error);
      w.key("llmk");
      w.begin_object();
      w.key("target"); w.value(r.target);
      w.key("skipped"); w.value(r.error.empty());
      w.end_object();
      w.key("iterations"); w.value(0LL);
      w.key("real_time"); w.value(0.0);
      w.key("cpu_time"); w.value(0.0);
      w.key("time_unit"); w.value("ns");
      w.end_object();
      continue;
    }
    w.key("iterations"); w.value(static_cast<unsigned long long>(r.total_ops));
    w.key("real_time"); w.value(r.stats.median);
    w.key("cpu_time"); w.value(r.cpu_ns_per_op);
    w.key("time_unit"); w.value("ns");
    w.number_field("items_per_second", r.items_per_second);
    if (r.bytes_per_op > 0) w.number_field("bytes_per_second", r.bytes_per_second);
    if (r.flops_per_op > 0) w.number_field("flops_per_second", r.flops_per_second);
    if (r.tsc_cycles_per_op > 0) w.number_field("tsc_cycles", r.tsc_cycles_per_op);
    for (size_t i = 0; i < r.counters.size(); ++i) {
      // Unavailable counters left out; an event counted in two groups
      // (instructions beside cycles and beside the vector ops) once.
      const CounterResult& c = r.counters[i];
      if (c.per_op &&
          std::find_if(r.counters.begin(), r.counters.begin() + static_cast<std::ptrdiff_t>(i),
                       [&](const CounterResult& e) { return e.event == c.event && e.per_op; }) ==
              r.counters.begin() + static_cast<std::ptrdiff_t>(i)) {
        w.number_field(c.event, *c.per_op);
      }
    }
    const CounterMetrics& m = r.counter_metrics;
    for (const auto& [key, value] :
         {std::pair{"ipc", m.ipc}, std::pair{"cycles_per_item", m.cycles_per_item},
          std::pair{"instructions_per_item", m.instructions_per_item},
          std::pair{"cache_miss_rate", m.cache_miss_rate},
          std::pair{"l1d_miss_rate", m.l1d_miss_rate},
          std::pair{"branch_miss_rate", m.branch_miss_rate},
          std::pair{"simd_share", m.simd_share}}) {
      if (value) w.number_field(key, *value);  // n/a: key left out
    }
    if (r.energy_joules_per_op) w.number_field("energy_joules", *r.energy_joules_per_op);
    if (const auto j = energy_joules_per_item(r)) {
      w.number_field("energy_joules_per_item", *j);
      if (r.item_name == "token") {
        w.number_field("joules_per_token", *j);
        if (*j > 0) w.number_field("tokens_per_joule", 1.0 / *j);
      }
    }
    w.key("llmk");
    w.begin_object();
    w.key("target"); w.value(r.target);
    w.key("item_name"); w.value(r.item_name);
    w.number_field("items_per_op", r.items_per_op);
    w.number_field("bytes_per_op", r.bytes_per_op);
    w.number_field("flops_per_op", r.flops_per_op);
    w.key("batch_size"); w.value(static_cast<unsigned long long>(r.batch_size));
    if (r.item_latency) {  // pooled over every repetition, also in a repetition's row
      w.key("item_latency");
      w.begin_object();
      w.key("n"); w.value(static_cast<unsigned long long>(r.item_latency->n));
      w.number_field("p50_ns", r.item_latency->p50);
      w.number_field("p90_ns", r.item_latency->p90);
      w.number_field("p99_ns", r.item_latency->p99);
      w.number_field("max_ns", r.item_latency->max);
      w.end_object();
    }
    if (!r.phases.empty()) {
      w.key("phases");
      w.begin_array();
      for (const PhaseTime& p : r.phases) {
        w.begin_object();
        w.key("name"); w.value(p.name);
        w.number_field("items", p.items);
        w.number_field("total_ns", p.total_ns);
        w.number_field("items_per_second", p.items_per_second());
        w.end_object();
      }
      w.end_array();
    }
    if (!r.energy_status.empty()) { w.key("energy_status"); w.value(r.energy_status); }
    const BenchmarkStats& s = r.stats;
    write_stats_fields(w, s, "");
    w.key("seed_outliers"); w.value(static_cast<unsigned long long>(s.seed_outliers));
    w.key("robust_outliers"); w.value(static_cast<unsigned long long>(s.robust_outliers));
    if (r.target != "-" && r.vector_bytes > 0) {
      w.key("vector_bytes"); w.value(static_cast<unsigned long long>(r.vector_bytes));
    }
    if (!r.counted_threads.empty()) {
      w.key("counted_threads"); w.value(r.counted_threads);
    }
    w.key("counter_status");
    w.begin_array();
    for (const CounterResult& c : r.counters) {
      w.begin_object();
      w.key("event"); w.value(c.event);
      w.key("status"); w.value(c.status);
      w.key("group"); w.value(static_cast<long long>(c.group));
      if (c.per_op) w.number_field("per_op", *c.per_op);
      if (c.per_op) w.number_field("running_fraction", c.running_fraction);
      w.end_object();
    }
    w.end_array();
    w.key("targets");
    w.begin_array();
    for (const TargetCheck& c : check_targets(r, suite)) {
      w.begin_object();
      w.key("text"); w.value(c.text);
      if (!c.other.empty()) {  // a ratio target: what it compared, in numbers
        w.key("vs"); w.value(c.other);
        if (c.ratio > 0) w.number_field("ratio", c.ratio);
        if (c.ratio > 0) w.number_field("min_ratio", c.required);
      }
      if (c.judged) {
        w.key("pass"); w.value(c.pass);
      } else {
        w.key("note"); w.value(true);  // not a target: never PASS or FAIL
      }
      w.end_object();
    }
    w.end_array();
    w.key("samples_ns");
    w.begin_array();
    for (double v : r.samples_ns) w.value(v);
    w.end_array();
    if (row.repetitions == 1) {  // the one repetition's median, as aggregates carry it
      w.key("repetition_medians_ns");
      w.begin_array();
      w.value(r.stats.median);
      w.end_array();
    }
    w.end_object();
    w.end_object();
    if (row.repetitions > 1 && row.repetition + 1 == row.repetitions) {
      write_aggregates(w, *row.entry, row.family_index);
    }
  }
  w.end_array();
  w.end_object();
  return w.text() + "\n";
}

std::string format_csv(const SuiteResult& suite) {
  std::string out =
      "name,target,threads,repetitions,batch_size,samples,median_ns,mean_ns,min_ns,max_ns,stddev_ns,"
      "p90_ns,p99_ns,mad_ns,cpu_ns,tsc_cycles,items_per_second,bytes_per_second,"
      "flops_per_second,seed_outliers,robust_outliers,energy_joules_per_op,"
      "energy_joules_per_item,joules_per_token,tokens_per_joule,";
  absl::StrAppend(&out, kCounterCsvColumns,
                  ",item_latency_n,item_latency_p50_ns,item_latency_p90_ns,item_latency_p99_ns,"
                  "item_latency_max_ns,phases,skipped,error\n");
  for (const BenchmarkResult& r : suite.results) {
    const BenchmarkStats& s = r.stats;
    const bool ran = r.skipped.empty() && r.error.empty();
    std::string skipped = r.skipped, error = r.error;
    for (std::string* text : {&skipped, &error}) {
      for (char& c : *text) {
        if (c == ',' || c == '"' || c == '\n') c = ' ';
      }
    }
    absl::StrAppend(&out, r.name, ",", r.target, ",", r.threads, ",", r.repetitions.size(), ",",
                    r.batch_size, ",", s.n, ",",
                    csv_number(s.median, ran), ",", csv_number(s.mean, ran), ",",
                    csv_number(s.min, ran), ",", csv_number(s.max, ran), ",",
                    csv_number(s.stddev, ran), ",", csv_number(s.p90, ran), ",",
                    csv_number(s.p99, ran), ",", csv_number(s.mad, ran), ",");
    absl::StrAppend(&out, csv_number(r.cpu_ns_per_op, ran), ",",
                    csv_number(r.tsc_cycles_per_op, ran && r.tsc_cycles_per_op > 0), ",",
                    csv_number(r.items_per_second, ran), ",",
                    csv_number(r.bytes_per_second, ran && r.bytes_per_op > 0), ",",
                    csv_number(r.flops_per_second, ran && r.flops_per_op > 0), ",",
                    s.seed_outliers, ",", s.robust_outliers, ",");
    const std::optional<double> j_item = ran ? energy_joules_per_item(r) : std::nullopt;
    const bool measured = j_item.has_value();
    const double joules = j_item.value_or(0.0);
    const bool tokens = measured && r.item_name == "token";
    absl::StrAppend(&out, csv_number(r.energy_joules_per_op.value_or(0), measured), ",",
                    csv_number(joules, measured), ",", csv_number(joules, tokens), ",",
                    csv_number(joules > 0 ? 1.0 / joules : 0.0, tokens && joules > 0), ",",
                    counter_csv_cells(r), ",");
    const bool latency = ran && r.item_latency.has_value();
    const ItemLatencyStats l = r.item_latency.value_or(ItemLatencyStats{});
    std::string phases;  // name:items_per_second, ';'-separated (no commas in a cell)
    for (const PhaseTime& p : r.phases) {
      absl::StrAppend(&phases, phases.empty() ? "" : ";", p.name, ":", csv_number(p.items_per_second()));
    }
    absl::StrAppend(&out, latency ? absl::StrCat(l.n) : "", ",", csv_number(l.p50, latency), ",",
                    csv_number(l.p90, latency), ",", csv_number(l.p99, latency), ",",
                    csv_number(l.max, latency), ",", ran ? phases : "", ",", skipped, ",", error,
                    "\n");
  }
  return out;
}

absl::Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot open '", path, "' for writing"));
  out << text;
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

}  // namespace llmk::bench
