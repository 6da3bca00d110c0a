#include "history/bmf.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>

#include "harness/json.h"
#include "harness/stats.h"

namespace llmk::bench::history {
namespace {

void metric(JsonWriter& w, const std::string& slug, double value,
            std::optional<double> lower = std::nullopt, std::optional<double> upper = std::nullopt) {
  if (!std::isfinite(value)) return;
  w.key(slug);
  w.begin_object();
  w.key("value");
  w.value(value);
  if (lower && std::isfinite(*lower)) w.number_field("lower_value", *lower);
  if (upper && std::isfinite(*upper)) w.number_field("upper_value", *upper);
  w.end_object();
}

void optional_metric(JsonWriter& w, const std::string& slug, const std::optional<double>& v) {
  if (v) metric(w, slug, *v);
}

}  // namespace

std::string counter_measure_slug(const std::string& event) {
  std::string slug = "counter-";
  for (char c : event) {
    const unsigned char u = static_cast<unsigned char>(c);
    slug += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  if (slug.size() > 64) slug.resize(64);
  return slug;
}

std::string format_bmf(const SuiteResult& suite) {
  JsonWriter w;
  w.begin_object();
  for (const BenchmarkResult& r : suite.results) {
    if (!r.skipped.empty() || !r.error.empty() || r.stats.n == 0) continue;
    std::vector<double> medians = r.repetition_medians_ns();
    if (medians.empty()) medians.push_back(r.stats.median);
    const double median_ns = median_of(medians);
    const auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
    w.key(r.name);
    w.begin_object();
    metric(w, "latency", median_ns, *lo, *hi);
    if (median_ns > 0 && *lo > 0) metric(w, "throughput", 1e9 / median_ns, 1e9 / *hi, 1e9 / *lo);
    if (median_ns > 0 && r.items_per_op != 1) {
      metric(w, "items-per-second", r.items_per_op * 1e9 / median_ns);
    }
    if (median_ns > 0 && r.bytes_per_op > 0) {
      metric(w, "bytes-per-second", r.bytes_per_op * 1e9 / median_ns);
    }
    if (median_ns > 0 && r.flops_per_op > 0) {
      metric(w, "flops-per-second", r.flops_per_op * 1e9 / median_ns);
    }
    if (r.cpu_ns_per_op > 0) metric(w, "cpu-time", r.cpu_ns_per_op);
    if (r.tsc_cycles_per_op > 0) metric(w, "tsc-cycles", r.tsc_cycles_per_op);
    optional_metric(w, "energy-joules", r.energy_joules_per_op);
    const CounterMetrics& cm = r.counter_metrics;
    optional_metric(w, "ipc", cm.ipc);
    optional_metric(w, "cycles-per-item", cm.cycles_per_item);
    optional_metric(w, "instructions-per-item", cm.instructions_per_item);
    optional_metric(w, "cache-miss-rate", cm.cache_miss_rate);
    optional_metric(w, "l1d-miss-rate", cm.l1d_miss_rate);
    optional_metric(w, "branch-miss-rate", cm.branch_miss_rate);
    optional_metric(w, "simd-share", cm.simd_share);
    std::set<std::string> slugs;  // two events with one slug: the first is kept
    for (const CounterResult& c : r.counters) {
      const std::string slug = counter_measure_slug(c.event);
      if (c.per_op && slugs.insert(slug).second) optional_metric(w, slug, c.per_op);
    }
    w.end_object();
  }
  w.end_object();
  return w.text() + "\n";
}

}  // namespace llmk::bench::history
