// The registry and the measurement loop: setup, batch sizing, warm-up,
// samples, counters and energy around the measured phase.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "harness/affinity.h"
#include "harness/energy.h"
#include "llmk/bench.h"
#include "llmk/target.h"
#include "harness/perf_counters.h"
#include "harness/stats.h"
#include "harness/std_regex.h"
#include "harness/timer.h"
#include "util/check.h"

namespace llmk::bench {
namespace {

struct Registry {
  std::vector<std::pair<const char*, SuiteFn>> suites;
  std::vector<BenchmarkSpec> single;
  std::vector<SuiteOption> options;
};
Registry& registry() {
  static Registry r;  // function-local: safe from static-initialisation order
  return r;
}

// Everything that lives for one run of the suite: pinning, counters, energy.
struct RunEnvironment {
  SuiteResult* suite = nullptr;
  std::vector<int> original_cpus;  // the process's mask before pinning
  bool pinned_here = false;        // the mask was changed here: restore it at the end
  std::unique_ptr<CounterSource> counter_source;  // null: counters off
  std::vector<EventGroup> counter_groups;         // as fitted at start-up
  CounterCapacity counter_capacity;
  SimdEvents simd;
  std::unique_ptr<EnergyMeter> energy;
};

// Warnings go to the caller in SuiteResult::warnings; printing is the caller's choice.
void warn(SuiteResult& suite, const std::string& text) { suite.warnings.push_back(text); }

absl::Status set_up_pinning(const BenchmarkConfig& config, RunEnvironment& env) {
  SuiteResult& suite = *env.suite;
  env.original_cpus = allowed_cpus();
  const CpuIsolation isolation = read_cpu_isolation();
  for (const std::string& problem : isolation.problems) warn(suite, problem);
  suite.isolated_cpus = isolation.isolated;
  suite.nohz_full_cpus = isolation.nohz_full;
  absl::StatusOr<PinChoice> choice =
      choose_pinned_cpu(config.cpu, isolation, env.original_cpus, pin_current_thread);
  if (!choice.ok()) return choice.status();
  suite.pinned_cpu = choice->cpu;
  suite.pinned_cpu_isolated = choice->isolated;
  suite.pinned_cpu_nohz_full = choice->nohz_full;
  env.pinned_here = choice->cpu >= 0 && !(config.cpu < 0 && env.original_cpus.size() == 1);
  for (const std::string& w : choice->warnings) warn(suite, w);
  const int checked = suite.pinned_cpu >= 0 ? suite.pinned_cpu : sched_getcpu();
  suite.governor = cpu_governor(checked);
  if (suite.governor != "performance") {
    warn(suite, absl::StrCat("CPU ", checked, " frequency governor is ", suite.governor,
                             suite.governor == "unknown" ? " (no cpufreq)" : "",
                             ", not performance: clock speed may vary"));
  }
  const HypervisorCheck hypervisor = detect_hypervisor();
  suite.virtualized = hypervisor.state == HypervisorState::kYes;
  suite.hypervisor = hypervisor.state == HypervisorState::kUnknown
                         ? absl::StrCat("unknown (", hypervisor.evidence, ")")
                         : hypervisor.evidence;
  if (suite.virtualized) {
    warn(suite, "running under a hypervisor: timings include steal time and there are "
                "usually no hardware counters");
  }
  return absl::OkStatus();
}

void set_up_counters(const BenchmarkConfig& config, RunEnvironment& env) {
  if (!config.counters) return;
  SuiteResult& suite = *env.suite;
  env.counter_source = make_system_counter_source();
  env.simd = simd_events_for_pmu(active_core_pmu());
  suite.simd_events = env.simd.describe();
  std::vector<EventGroup> wanted = default_counter_groups(env.simd);
  if (!config.counter_events.empty()) {
    auto parsed = parse_counter_groups(config.counter_events);
    if (parsed.ok()) {
      wanted = *std::move(parsed);
    } else {
      warn(suite, absl::StrCat(parsed.status().message(), "; using the default groups"));
    }
  }
  env.counter_capacity = probe_counter_capacity(*env.counter_source, read_nmi_watchdog());
  suite.counter_capacity = env.counter_capacity.description;
  GroupFit fit = fit_counter_groups(wanted, *env.counter_source, env.counter_capacity);
  for (const std::string& note : fit.notes) warn(suite, absl::StrCat("counters ", note));
  env.counter_groups = std::move(fit.groups);
  // Each entry opens its own set (inherited for threaded entries); this one
  // only finds what cannot open, to say so once.
  const CounterSet trial(env.counter_groups, *env.counter_source, CounterOptions{});
  for (const std::string& line : counter_warnings(trial.status(), env.counter_capacity)) {
    warn(suite, line);
  }
  if (env.simd.vector_events.empty()) {
    warn(suite, absl::StrCat("SIMD utilisation ", suite.simd_events));
  }
}

thread_local double reported_batch_ns = -1;  // < 0: nothing reported

// What bodies report per item and per phase, kept only while a
// CollectingReports is alive on this thread (the measured samples).
struct ItemReports {
  bool collecting = false;
  std::vector<double> latencies_ns;
  std::vector<PhaseTime> phases;
};
thread_local ItemReports item_reports;

class CollectingReports {
 public:
  CollectingReports() {
    item_reports.latencies_ns.clear();
    item_reports.phases.clear();
    item_reports.collecting = true;
  }
  ~CollectingReports() { item_reports.collecting = false; }
  CollectingReports(const CollectingReports&) = delete;
  CollectingReports& operator=(const CollectingReports&) = delete;
};

std::mutex& run_context_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::pair<std::string, std::string>>& run_context() {
  static std::vector<std::pair<std::string, std::string>> context;
  return context;
}

// Times `body(count)` in ns, or returns the body's error. A manual_time
// body's own report replaces the clock.
absl::StatusOr<double> time_batch(const BatchFn& body, uint64_t count, bool manual_time) {
  const Timer& timer = Timer::instance();
  reported_batch_ns = -1;
  const uint64_t t0 = timer.now();
  const absl::Status status = body(count);
  const uint64_t t1 = timer.now();
  if (!status.ok()) [[unlikely]] return status;
  if (manual_time) {
    if (reported_batch_ns < 0) {
      return absl::InternalError("a manual_time body returned without report_batch_time_ns()");
    }
    return reported_batch_ns;
  }
  return timer.ticks_to_ns(t1 - t0);
}

// Ends an entry whose body failed in `phase`: the error, and no samples (a
// failed call must never be timed as an operation).
BenchmarkResult failed(BenchmarkResult r, absl::string_view phase, const absl::Status& status) {
  r.error = absl::StrCat(phase, ": ", status.ToString());
  r.samples_ns.clear();
  r.total_ops = 0;
  r.stats = BenchmarkStats{};
  return r;
}

BenchmarkResult measure(const BenchmarkSpec& spec, const BenchmarkConfig& config,
                        const std::string& target, RunEnvironment& env) {
  BenchmarkResult r;
  r.name = spec.name;
  r.target = target;
  r.item_name = spec.item_name;
  r.items_per_op = spec.items_per_op > 0 ? spec.items_per_op : 1;
  r.bytes_per_op = spec.bytes_per_op;
  r.flops_per_op = spec.flops_per_op;
  r.threads = spec.threads;
  r.targets = spec.targets;
  r.ratio_targets = spec.ratio_targets;

  // Worker threads inherit the creating thread's mask: let a pool built in
  // setup spread over the process's CPUs, then pin the measuring thread again.
  const bool widen = spec.threads > 1 && env.suite->pinned_cpu >= 0 && env.original_cpus.size() > 1;
  // Threads sharing one CPU measure the scheduler, not the kernel (and spin
  // waits then take whole time slices): such entries are skipped, saying why.
  if (spec.threads > env.original_cpus.size()) {
    r.skipped = absl::StrCat("needs ", spec.threads, " CPUs but only ", env.original_cpus.size(),
                             " allowed (run with --cpu N instead of taskset to measure threads)");
    return r;
  }
  // Opened before setup: a threaded entry's workers start there and inherit
  // the counters, so the reads sum every thread that does the work.
  std::unique_ptr<CounterSet> counters;
  if (env.counter_source) {
    CounterOptions options;
    options.inherit = spec.threads > 1;
    options.free_counters = env.counter_capacity.free_counters;
    counters = std::make_unique<CounterSet>(env.counter_groups, *env.counter_source, options);
  }
  if (widen) (void)set_thread_cpus(env.original_cpus);
  absl::StatusOr<BatchFn> body = spec.setup ? spec.setup(config)
                                            : absl::InvalidArgumentError("no setup function");
  if (widen) (void)pin_current_thread(env.suite->pinned_cpu);
  if (!body.ok()) {
    // A missing optional input skips the entry; any other setup error is a
    // fault of the benchmark and must not pass as "not run".
    const absl::StatusCode code = body.status().code();
    if (code == absl::StatusCode::kNotFound || code == absl::StatusCode::kFailedPrecondition) {
      r.skipped = std::string(body.status().message());
      return r;
    }
    return failed(std::move(r), "setup", body.status());
  }

  // Batch size: grow until one batch lasts min_sample_time_s. The first call
  // is cold (page faults, lazy dispatch), so it is not timed, and each size
  // is judged by the fastest of three timings: a preemption must not freeze
  // the batch at a size too small for the timer.
  const double min_ns = std::max(config.min_sample_time_s, 1e-7) * 1e9;
  if (absl::Status st = (*body)(1); !st.ok()) return failed(std::move(r), "first call", st);
  auto fastest_of_3 = [&](uint64_t count) -> absl::StatusOr<double> {
    absl::StatusOr<double> best = time_batch(*body, count, spec.manual_time);
    for (int i = 0; i < 2 && best.ok() && *best < min_ns; ++i) {
      absl::StatusOr<double> next = time_batch(*body, count, spec.manual_time);
      if (!next.ok()) return next;
      best = std::min(*best, *next);
    }
    return best;
  };
  uint64_t batch = 1;
  double batch_ns = 0;
  auto grow = [&]() -> absl::Status {
    while (batch_ns < min_ns && batch < (uint64_t{1} << 40)) {
      const double factor = batch_ns > 0 ? std::clamp(1.2 * min_ns / batch_ns, 2.0, 100.0) : 100.0;
      batch = static_cast<uint64_t>(std::ceil(static_cast<double>(batch) * factor));
      absl::StatusOr<double> ns = fastest_of_3(batch);
      if (!ns.ok()) return ns.status();
      batch_ns = *ns;
    }
    return absl::OkStatus();
  };
  absl::StatusOr<double> first_ns = fastest_of_3(batch);
  if (!first_ns.ok()) {
    return failed(std::move(r), "batch sizing (batch of 1)", first_ns.status());
  }
  batch_ns = *first_ns;
  if (absl::Status st = grow(); !st.ok()) {
    return failed(std::move(r), absl::StrCat("batch sizing (batch of ", batch, ")"), st);
  }

  // Warm-up: caches, branch predictors, page faults, the pool's threads. A
  // warm operation can be much faster than the cold ones the batch was
  // sized on, so the batch is checked again afterwards.
  const uint64_t warm_start = monotonic_ns();
  double warm_fastest = batch_ns;
  for (size_t i = 0; i < config.warmup_iterations; ++i) {
    absl::StatusOr<double> ns = time_batch(*body, batch, spec.manual_time);
    if (!ns.ok()) {
      return failed(std::move(r), absl::StrCat("warm-up ", i + 1, " (batch of ", batch, ")"),
                    ns.status());
    }
    warm_fastest = std::min(warm_fastest, *ns);
    if (static_cast<double>(monotonic_ns() - warm_start) > config.max_warmup_s * 1e9) break;
  }
  batch_ns = warm_fastest;
  if (absl::Status st = grow(); !st.ok()) {
    return failed(std::move(r),
                  absl::StrCat("batch sizing after warm-up (batch of ", batch, ")"), st);
  }
  r.batch_size = batch;

  const size_t max_samples = std::max<size_t>(config.measurement_iterations, 1);
  r.samples_ns.reserve(max_samples);
  const bool process_cpu = spec.threads > 1;
  // Both snapshots are sized before the first read: reading allocates nothing.
  CounterSet::Snapshot counters_before, counters_after;
  if (counters) {
    counters_before = counters->new_snapshot();
    counters_after = counters->new_snapshot();
    counters->read(counters_before);
  }
  const bool energy_started = env.energy && env.energy->begin(monotonic_ns());
  const uint64_t cpu_before = process_cpu ? process_cpu_ns() : thread_cpu_ns();
  const uint64_t start = monotonic_ns();
  const double per_op_scale = 1.0 / static_cast<double>(batch);
  std::optional<CollectingReports> collecting(std::in_place);
  while (r.samples_ns.size() < max_samples) {
    absl::StatusOr<double> ns = time_batch(*body, batch, spec.manual_time);
    if (!ns.ok()) [[unlikely]] {
      // Named first: the order of evaluation of failed()'s arguments is
      // unspecified, and moving r may empty samples_ns before it is counted.
      std::string phase = absl::StrCat("sample ", r.samples_ns.size() + 1, " (batch of ", batch, ")");
      return failed(std::move(r), phase, ns.status());
    }
    r.samples_ns.push_back(*ns * per_op_scale);
    if (energy_started) env.energy->poll(monotonic_ns());
    if (static_cast<double>(monotonic_ns() - start) > config.max_time_s * 1e9 &&
        r.samples_ns.size() >= config.min_samples) {
      break;
    }
  }
  const uint64_t cpu_after = process_cpu ? process_cpu_ns() : thread_cpu_ns();
  if (counters) counters->read(counters_after);
  collecting.reset();
  r.item_latencies_ns = std::move(item_reports.latencies_ns);
  r.phases = std::move(item_reports.phases);
  if (!r.item_latencies_ns.empty()) r.item_latency = item_latency_stats(r.item_latencies_ns);
  r.total_ops = batch * r.samples_ns.size();
  const double ops = static_cast<double>(r.total_ops);
  if (env.energy) {
    const EnergyInterval e = energy_started ? env.energy->end(monotonic_ns()) : EnergyInterval{};
    if (e.joules) {
      r.energy_joules_per_op = *e.joules / ops;
    } else {
      r.energy_status = energy_started ? e.problem : "reading the energy counter failed";
    }
  }
  if (counters) {
    r.counters = counter_results(counters->status(),
                                 counters->values_between(counters_before, counters_after), ops);
    r.counter_metrics = derive_counter_metrics(r.counters, r.items_per_op, env.simd);
    r.counted_threads = counters->counted_threads();
  }
  r.vector_bytes = current_vector_bytes();

  r.stats = compute_stats(r.samples_ns);
  r.cpu_ns_per_op = static_cast<double>(cpu_after - cpu_before) / ops;
  const Timer& timer = Timer::instance();
  if (timer.uses_tsc()) r.tsc_cycles_per_op = r.stats.median * timer.tsc_ghz();
  r.items_per_second = per_second(r.items_per_op, r.stats.median);
  r.bytes_per_second = per_second(r.bytes_per_op, r.stats.median);
  r.flops_per_second = per_second(r.flops_per_op, r.stats.median);
  return r;
}

// Folds one repetition's measurement into its entry. The first becomes the
// entry, so every field measure() fills is kept; later ones add their
// samples, and their operations weigh the per-operation CPU time, counts and
// energy.
void add_repetition(BenchmarkResult& entry, BenchmarkResult rep, bool first) {
  RepetitionResult record;
  record.batch_size = rep.batch_size;
  record.total_ops = rep.total_ops;
  record.samples_ns = rep.samples_ns;
  record.stats = rep.stats;
  record.cpu_ns_per_op = rep.cpu_ns_per_op;
  record.counters = rep.counters;
  record.counter_metrics = rep.counter_metrics;
  record.energy_joules_per_op = rep.energy_joules_per_op;
  if (first) {
    entry = std::move(rep);
    entry.repetitions.assign(1, std::move(record));
    return;
  }
  const double before = static_cast<double>(entry.total_ops);
  const double added = static_cast<double>(rep.total_ops);
  auto weighted = [&](double a, double b) {
    return before + added > 0 ? (a * before + b * added) / (before + added) : 0.0;
  };
  entry.cpu_ns_per_op = weighted(entry.cpu_ns_per_op, rep.cpu_ns_per_op);
  if (entry.energy_joules_per_op && rep.energy_joules_per_op) {
    entry.energy_joules_per_op = weighted(*entry.energy_joules_per_op, *rep.energy_joules_per_op);
  } else {
    entry.energy_joules_per_op.reset();  // a total over part of the repetitions would mislead
  }
  if (entry.counters.size() == rep.counters.size()) {
    for (size_t i = 0; i < entry.counters.size(); ++i) {
      CounterResult& c = entry.counters[i];
      const CounterResult& more = rep.counters[i];
      if (c.per_op && more.per_op) {
        c.per_op = weighted(*c.per_op, *more.per_op);
      } else if (c.per_op) {
        c.per_op.reset();
        c.status = more.status;
      }
      c.running_fraction = weighted(c.running_fraction, more.running_fraction);
    }
  }
  entry.samples_ns.insert(entry.samples_ns.end(), rep.samples_ns.begin(), rep.samples_ns.end());
  entry.item_latencies_ns.insert(entry.item_latencies_ns.end(), rep.item_latencies_ns.begin(),
                                 rep.item_latencies_ns.end());
  for (const PhaseTime& p : rep.phases) {
    auto it = std::find_if(entry.phases.begin(), entry.phases.end(),
                           [&](const PhaseTime& e) { return e.name == p.name; });
    if (it == entry.phases.end()) {
      entry.phases.push_back(p);
    } else {
      it->items += p.items;
      it->total_ns += p.total_ns;
    }
  }
  entry.total_ops += rep.total_ops;
  entry.repetitions.push_back(std::move(record));
}

// Statistics and counter metrics over every repetition's samples and
// counts (one repetition: as measured).
void finish_entry(BenchmarkResult& r, const SimdEvents& simd) {
  if (r.repetitions.size() < 2) return;
  if (!r.counters.empty()) r.counter_metrics = derive_counter_metrics(r.counters, r.items_per_op, simd);
  r.stats = compute_stats(r.samples_ns);
  if (!r.item_latencies_ns.empty()) r.item_latency = item_latency_stats(r.item_latencies_ns);
  const Timer& timer = Timer::instance();
  if (timer.uses_tsc()) r.tsc_cycles_per_op = r.stats.median * timer.tsc_ghz();
  r.items_per_second = per_second(r.items_per_op, r.stats.median);
  r.bytes_per_second = per_second(r.bytes_per_op, r.stats.median);
  r.flops_per_second = per_second(r.flops_per_op, r.stats.median);
}

}  // namespace

void report_batch_time_ns(double ns) { reported_batch_ns = ns >= 0 ? ns : 0; }

void report_item_latencies_ns(std::span<const double> ns) {
  if (!item_reports.collecting) return;
  item_reports.latencies_ns.insert(item_reports.latencies_ns.end(), ns.begin(), ns.end());
}

void report_phase_time_ns(const std::string& phase, double items, double ns) {
  if (!item_reports.collecting) return;
  for (PhaseTime& p : item_reports.phases) {
    if (p.name == phase) {
      p.items += items;
      p.total_ns += ns;
      return;
    }
  }
  item_reports.phases.push_back({phase, items, ns});
}

ItemLatencyStats item_latency_stats(std::span<const double> latencies_ns) {
  ItemLatencyStats out;
  if (latencies_ns.empty()) return out;
  std::vector<double> sorted(latencies_ns.begin(), latencies_ns.end());
  std::sort(sorted.begin(), sorted.end());
  out.n = sorted.size();
  out.p50 = quantile_sorted(sorted, 0.5);
  out.p90 = quantile_sorted(sorted, 0.9);
  out.p99 = quantile_sorted(sorted, 0.99);
  out.max = sorted.back();
  return out;
}

void set_run_context(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(run_context_mutex());
  for (auto& [k, v] : run_context()) {
    if (k == key) {
      v = value;
      return;
    }
  }
  run_context().emplace_back(key, value);
}

bool register_suite(const char* name, SuiteFn fn) {
  registry().suites.emplace_back(name, fn);
  return true;
}

bool register_suite_option(SuiteOption option) {
  registry().options.push_back(std::move(option));
  return true;
}

const std::vector<SuiteOption>& registered_suite_options() { return registry().options; }

void register_benchmark(BenchmarkSpec spec) { registry().single.push_back(std::move(spec)); }

std::vector<BenchmarkSpec> collect_benchmarks(const BenchmarkConfig& config) {
  std::vector<BenchmarkSpec> specs;
  for (const auto& [name, fn] : registry().suites) fn(config, specs);
  for (const BenchmarkSpec& s : registry().single) specs.push_back(s);
  return specs;
}

absl::StatusOr<SuiteResult> run_benchmark_suite(const BenchmarkConfig& config) {
  const std::vector<BenchmarkSpec> specs = collect_benchmarks(config);
  return run_benchmarks(specs, config);
}

absl::StatusOr<SuiteResult> run_benchmarks(std::span<const BenchmarkSpec> specs,
                                           const BenchmarkConfig& config) {
  std::regex filter;
  try {
    filter = std::regex(config.filter.empty() ? std::string(".") : config.filter,
                        std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--filter '", config.filter, "' is not a valid regex: ", e.what()));
  }

  SuiteResult suite;
  // Which Highway targets to run under.
  std::vector<std::string> targets;
  const std::string wanted = config.use_simd ? config.target : "scalar";
  if (wanted == "all") {
    targets = supported_targets();
  } else {
    LLMK_RETURN_IF_ERROR(force_target(wanted));
    targets = {current_target()};
    reset_target();
  }
  suite.targets_run = targets;

  RunEnvironment env;
  env.suite = &suite;
  LLMK_RETURN_IF_ERROR(set_up_pinning(config, env));
  const Timer& timer = Timer::instance();
  suite.timer = timer.name();
  suite.timer_fallback = timer.fallback_reason();
  suite.tsc_ghz = timer.tsc_ghz();
  // Unpinned, the package of the CPU the run starts on is measured.
  EnergyProbe energy =
      open_package_energy(suite.pinned_cpu >= 0 ? suite.pinned_cpu : sched_getcpu());
  env.energy = std::move(energy.meter);
  suite.energy_source = env.energy ? env.energy->source() : "n/a";
  if (!env.energy) suite.energy_unavailable = energy.unavailable;
  for (const std::string& note : energy.notes) warn(suite, absl::StrCat("energy: ", note));
  if (!env.energy) {
    warn(suite, absl::StrCat("energy n/a: ", absl::StrJoin(energy.unavailable, "; ")));
  }
  set_up_counters(config, env);

  // The filter's entries, and the entries their ratio targets compare with
  // (a scalar companion, OpenBLAS, a bandwidth probe), so a ratio is judged
  // rather than n/a however narrow the filter; registration order kept.
  std::vector<bool> wanted_spec(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) wanted_spec[i] = std::regex_search(specs[i].name, filter);
  for (bool added = true; added;) {
    added = false;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (!wanted_spec[i]) continue;
      for (const RatioTarget& t : specs[i].ratio_targets) {
        for (size_t j = 0; j < specs.size(); ++j) {
          if (!wanted_spec[j] && specs[j].name == t.other) added = wanted_spec[j] = true;
        }
      }
    }
  }
  std::vector<const BenchmarkSpec*> selected;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (wanted_spec[i]) selected.push_back(&specs[i]);
  }
  // One job per entry and target, in registration order (the report's order).
  struct Job {
    const BenchmarkSpec* spec;
    std::string target;
    bool every_target;
  };
  std::vector<Job> jobs;
  for (const BenchmarkSpec* spec : selected) {
    if (!spec->fixed_target.empty()) {  // e.g. a scalar companion: its own target, once
      LLMK_RETURN_IF_ERROR(force_target(spec->fixed_target));
      jobs.push_back({spec, current_target(), false});
      reset_target();
      continue;
    }
    const bool every_target = targets.size() > 1 && spec->per_target;
    for (size_t t = 0; t < (every_target ? targets.size() : 1); ++t) {
      jobs.push_back({spec, targets[t], every_target});
    }
  }
  suite.repetitions = std::max<size_t>(config.repetitions, 1);
  suite.seed = config.seed ? *config.seed : std::random_device{}();
  suite.quick = config.quick;
  std::vector<BenchmarkResult> entries(jobs.size());
  const bool progress = config.progress && isatty(STDERR_FILENO);
  for (size_t rep = 0; rep < suite.repetitions; ++rep) {
    // Shuffled per repetition so slow drift (heat, other tenants) falls on
    // every entry alike instead of on whichever ran last; a single
    // repetition keeps registration order, which is easier to follow.
    std::vector<size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), size_t{0});
    if (suite.repetitions > 1) order = shuffled_order(jobs.size(), suite.seed, rep);
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t index = order[k];
      const Job& job = jobs[index];
      BenchmarkResult& entry = entries[index];
      if (rep > 0 && (!entry.skipped.empty() || !entry.error.empty())) continue;
      if (progress) {
        const std::string rep_text =
            suite.repetitions > 1 ? absl::StrCat("rep ", rep + 1, "/", suite.repetitions, " ") : "";
        std::fprintf(stderr, "\r\033[K%s[%zu/%zu] %s %s", rep_text.c_str(), k + 1, jobs.size(),
                     job.spec->name.c_str(), job.every_target ? job.target.c_str() : "");
        std::fflush(stderr);
      }
      LLMK_RETURN_IF_ERROR(force_target(job.target));
      BenchmarkResult r = measure(*job.spec, config, job.target, env);
      reset_target();
      if (job.every_target) r.name = absl::StrCat(r.name, "@", job.target);
      if (!job.spec->per_target) r.target.assign(1, '-');
      if (!r.skipped.empty() || !r.error.empty()) {
        // An entry that skips or fails in any repetition is reported as such
        // alone: its other repetitions' numbers are not a result.
        if (rep == 0) {
          entry = std::move(r);
        } else {
          std::string& why = r.error.empty() ? entry.skipped : entry.error;
          why = absl::StrCat("repetition ", rep + 1, " of ", suite.repetitions, ": ",
                             r.error.empty() ? r.skipped : r.error);
        }
        continue;
      }
      add_repetition(entry, std::move(r), rep == 0);
    }
  }
  for (BenchmarkResult& r : entries) {
    finish_entry(r, env.simd);
    if (config.verbose && r.skipped.empty() && r.error.empty()) {
      std::printf("%s: n=%zu reps=%zu batch=%llu mean %.4g ns stddev %.4g ns p99 %.4g ns max "
                  "%.4g ns outliers seed %zu robust %zu cpu %.4g ns/op\n",
                  r.name.c_str(), r.stats.n, r.repetitions.size(),
                  static_cast<unsigned long long>(r.batch_size), r.stats.mean, r.stats.stddev,
                  r.stats.p99, r.stats.max, r.stats.three_sigma_outliers, r.stats.robust_outliers,
                  r.cpu_ns_per_op);
    }
  }
  suite.results = std::move(entries);
  {
    std::lock_guard<std::mutex> lock(run_context_mutex());
    suite.context = run_context();
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (!env.original_cpus.empty() && env.pinned_here) (void)set_thread_cpus(env.original_cpus);
  return suite;
}

}  // namespace llmk::bench
