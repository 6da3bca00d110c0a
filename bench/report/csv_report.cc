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

constexpr const char* kCounterCsvColumns =
    "vector_bytes,counted_threads,ipc,cycles_per_item,instructions_per_item,cache_miss_rate,"
    "l1d_miss_rate,branch_miss_rate,simd_share";

std::string csv_number(double v, bool present = true) {
  if (!present || !std::isfinite(v)) return "";
  return absl::StrFormat("%.6g", v);
}

// "12.3 mJ": joules with an SI prefix, three significant digits.
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

std::string format_csv(const SuiteResult& suite) {
  std::string out =
      "name,target,threads,repetitions,batch_size,samples,median_ns,mean_ns,min_ns,max_ns,stddev_ns,"
      "p90_ns,p99_ns,mad_ns,cpu_ns,tsc_cycles,items_per_second,bytes_per_second,"
      "flops_per_second,three_sigma_outliers,robust_outliers,energy_joules_per_op,"
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
                    s.three_sigma_outliers, ",", s.robust_outliers, ",");
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


}  // namespace llmk::bench
