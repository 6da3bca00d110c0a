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


}  // namespace

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
    w.key("three_sigma_outliers"); w.value(static_cast<unsigned long long>(s.three_sigma_outliers));
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


}  // namespace llmk::bench
