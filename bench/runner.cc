// The registry and the measurement loop: setup, batch sizing, warm-up,
// samples, counters and energy around the measured phase.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <regex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "affinity.h"
#include "energy.h"
#include "llmk/bench.h"
#include "llmk/target.h"
#include "perf_counters.h"
#include "stats.h"
#include "timer.h"
#include "util/check.h"

namespace llmk::bench {
namespace {

struct Registry {
  std::vector<std::pair<const char*, SuiteFn>> suites;
  std::vector<BenchmarkSpec> single;
};
Registry& registry() {
  static Registry r;  // function-local: safe from static-initialisation order
  return r;
}

// Everything that lives for one run of the suite: pinning, counters, energy.
struct RunEnvironment {
  SuiteResult* suite = nullptr;
  std::vector<int> original_cpus;  // the process's mask before pinning
  std::unique_ptr<CounterSource> counter_source;  // null: counters off
  std::vector<EventGroup> counter_groups;         // as fitted at start-up
  CounterCapacity counter_capacity;
  SimdEvents simd;
  std::unique_ptr<EnergyMeter> energy;
};

void warn(SuiteResult& suite, const std::string& text) {
  suite.warnings.push_back(text);
  std::fprintf(stderr, "llmk-bench: warning: %s\n", text.c_str());
}

absl::Status set_up_pinning(const BenchmarkConfig& config, RunEnvironment& env) {
  SuiteResult& suite = *env.suite;
  env.original_cpus = allowed_cpus();
  const std::vector<int> isolated = isolated_cpus();
  if (config.cpu >= 0) {
    LLMK_RETURN_IF_ERROR(pin_current_thread(config.cpu));
    suite.pinned_cpu = config.cpu;
  } else {
    for (int c : isolated) {
      if (std::find(env.original_cpus.begin(), env.original_cpus.end(), c) !=
              env.original_cpus.end() &&
          pin_current_thread(c).ok()) {
        suite.pinned_cpu = c;
        break;
      }
    }
    // Under `taskset -c N` the process is already pinned.
    if (suite.pinned_cpu < 0 && env.original_cpus.size() == 1) {
      suite.pinned_cpu = env.original_cpus[0];
    }
  }
  if (isolated.empty()) {
    warn(suite, "no isolated CPU (/sys/devices/system/cpu/isolated is empty): other tasks "
                "may share the measuring CPU");
  }
  if (suite.pinned_cpu < 0) {
    warn(suite, "not pinned: pass --cpu N or run under taskset -c N for steadier numbers");
  }
  const int checked = suite.pinned_cpu >= 0 ? suite.pinned_cpu : sched_getcpu();
  suite.governor = cpu_governor(checked);
  if (suite.governor != "performance") {
    warn(suite, absl::StrCat("CPU ", checked, " frequency governor is ", suite.governor,
                             suite.governor == "unknown" ? " (no cpufreq)" : "",
                             ", not performance: clock speed may vary"));
  }
  suite.virtualized = cpu_reports_hypervisor();
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

// Times `body(count)` in ns.
double time_batch(const BatchFn& body, uint64_t count) {
  const Timer& timer = Timer::instance();
  const uint64_t t0 = timer.now();
  body(count);
  const uint64_t t1 = timer.now();
  return timer.ticks_to_ns(t1 - t0);
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
  r.ratio_target = spec.ratio_target;

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
    r.skipped = std::string(body.status().message());
    return r;
  }

  // Batch size: grow until one batch lasts min_sample_time_s. The first call
  // is cold (page faults, lazy dispatch), so it is not timed, and each size
  // is judged by the fastest of three timings: a preemption must not freeze
  // the batch at a size too small for the timer.
  const double min_ns = std::max(config.min_sample_time_s, 1e-7) * 1e9;
  (*body)(1);
  auto fastest_of_3 = [&](uint64_t count) {
    double best = time_batch(*body, count);
    for (int i = 0; i < 2 && best < min_ns; ++i) best = std::min(best, time_batch(*body, count));
    return best;
  };
  uint64_t batch = 1;
  double batch_ns = fastest_of_3(batch);
  auto grow = [&] {
    while (batch_ns < min_ns && batch < (uint64_t{1} << 40)) {
      const double factor = batch_ns > 0 ? std::clamp(1.2 * min_ns / batch_ns, 2.0, 100.0) : 100.0;
      batch = static_cast<uint64_t>(std::ceil(static_cast<double>(batch) * factor));
      batch_ns = fastest_of_3(batch);
    }
  };
  grow();

  // Warm-up: caches, branch predictors, page faults, the pool's threads. A
  // warm operation can be much faster than the cold ones the batch was
  // sized on, so the batch is checked again afterwards.
  const uint64_t warm_start = monotonic_ns();
  double warm_fastest = batch_ns;
  for (size_t i = 0; i < config.warmup_iterations; ++i) {
    warm_fastest = std::min(warm_fastest, time_batch(*body, batch));
    if (static_cast<double>(monotonic_ns() - warm_start) > config.max_warmup_s * 1e9) break;
  }
  batch_ns = warm_fastest;
  grow();
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
  std::optional<double> joules_before;
  if (env.energy) joules_before = env.energy->read_joules();
  const uint64_t cpu_before = process_cpu ? process_cpu_ns() : thread_cpu_ns();
  const uint64_t start = monotonic_ns();
  const double per_op_scale = 1.0 / static_cast<double>(batch);
  while (r.samples_ns.size() < max_samples) {
    r.samples_ns.push_back(time_batch(*body, batch) * per_op_scale);
    if (static_cast<double>(monotonic_ns() - start) > config.max_time_s * 1e9 &&
        r.samples_ns.size() >= config.min_samples) {
      break;
    }
  }
  const uint64_t cpu_after = process_cpu ? process_cpu_ns() : thread_cpu_ns();
  if (counters) counters->read(counters_after);
  r.total_ops = batch * r.samples_ns.size();
  const double ops = static_cast<double>(r.total_ops);
  if (env.energy && joules_before) {
    if (auto after = env.energy->read_joules()) {
      r.energy_joules_per_op = env.energy->joules_between(*joules_before, *after) / ops;
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

}  // namespace

bool register_suite(const char* name, SuiteFn fn) {
  registry().suites.emplace_back(name, fn);
  return true;
}

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
  suite.tsc_ghz = timer.tsc_ghz();
  env.energy = EnergyMeter::open(suite.pinned_cpu);
  suite.energy_source = env.energy ? env.energy->source() : "n/a";
  set_up_counters(config, env);

  std::vector<const BenchmarkSpec*> selected;
  for (const BenchmarkSpec& s : specs) {
    if (std::regex_search(s.name, filter)) selected.push_back(&s);
  }
  const bool progress = config.progress && isatty(STDERR_FILENO);
  size_t done = 0;
  for (const BenchmarkSpec* spec : selected) {
    ++done;
    const bool every_target = targets.size() > 1 && spec->per_target;
    for (size_t t = 0; t < (every_target ? targets.size() : 1); ++t) {
      const std::string& target = targets[t];
      if (progress) {
        std::fprintf(stderr, "\r\033[K[%zu/%zu] %s %s", done, selected.size(), spec->name.c_str(),
                     every_target ? target.c_str() : "");
        std::fflush(stderr);
      }
      LLMK_RETURN_IF_ERROR(force_target(target));
      BenchmarkResult r = measure(*spec, config, target, env);
      reset_target();
      if (every_target) r.name = absl::StrCat(r.name, "@", target);
      if (!spec->per_target) r.target.assign(1, '-');
      if (config.verbose && r.skipped.empty()) {
        std::printf("%s: n=%zu batch=%llu mean %.4g ns stddev %.4g ns p99 %.4g ns max %.4g ns "
                    "outliers seed %zu robust %zu cpu %.4g ns/op\n",
                    r.name.c_str(), r.stats.n, static_cast<unsigned long long>(r.batch_size),
                    r.stats.mean, r.stats.stddev, r.stats.p99, r.stats.max, r.stats.seed_outliers,
                    r.stats.robust_outliers, r.cpu_ns_per_op);
      }
      suite.results.push_back(std::move(r));
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (!env.original_cpus.empty() && config.cpu >= 0) (void)set_thread_cpus(env.original_cpus);
  return suite;
}

}  // namespace llmk::bench
