// The benchmark harness behind llmk-bench, usable for your own benchmarks.
//
// A benchmark is a BenchmarkSpec: a name, what one operation processes
// (items, bytes, FLOPs), optional speed targets, and a setup function that
// allocates the inputs and returns a BatchFn running the operation `count`
// times. The harness sizes batches so one timed sample lasts at least
// BenchmarkConfig::min_sample_time_s, warms up, takes
// measurement_iterations samples (per-operation nanoseconds as doubles),
// and reports robust statistics, perf counters and energy where available.
// With BenchmarkConfig::repetitions = N all of that (setup included) runs N
// times per entry, entries shuffled anew in each repetition.
//
// Registering and running your own benchmark:
//
//   llmk::bench::BenchmarkSpec spec;
//   spec.name = "mine/dot/1024";
//   spec.setup = [](const llmk::bench::BenchmarkConfig&)
//       -> absl::StatusOr<llmk::bench::BatchFn> {
//     auto a = std::make_shared<std::vector<float>>(1024, 1.0f);
//     return llmk::bench::BatchFn([a](uint64_t count) -> absl::Status {
//       for (uint64_t i = 0; i < count; ++i) {
//         absl::StatusOr<float> d = llmk::dot(*a, *a);
//         if (!d.ok()) return d.status();  // ends the entry with this error
//         llmk::bench::do_not_optimize(*d);
//       }
//       return absl::OkStatus();
//     });
//   };
//   llmk::bench::register_benchmark(spec);
//   auto result = llmk::bench::run_benchmark_suite(llmk::bench::BenchmarkConfig{});
//   if (result.ok()) llmk::bench::print_summary(*result);
//
// Or call llmk::bench::bench_main(argc, argv) from main() to get llmk-bench's
// whole command line (--filter, --json, --baseline, --counters, ...).
//
// Adding a suite to llmk-bench (e.g. end-to-end generation): put a file
// bench/suites/<area>.cc in bench/meson.build's suite list with
//
//   namespace {
//   void add_generate(const llmk::bench::BenchmarkConfig& config,
//                     std::vector<llmk::bench::BenchmarkSpec>& out) {
//     // config.suite_option("model"), config.threads are available here
//     out.push_back(...);   // names like "generate/stories15M/tg128"
//   }
//   const bool registered = llmk::bench::register_suite("generate", add_generate);
//   }  // namespace
//
// with its options registered the same way (register_suite_option), and set
// items_per_op to the tokens one operation produces, so items/s is
// tokens/s in every report (and items_per_second in the JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk::bench {

// Keeps the compiler from discarding a value it would otherwise prove unused.
template <class T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}
// Forces pending writes to memory to be treated as observable.
inline void clobber_memory() { asm volatile("" : : : "memory"); }

struct BenchmarkConfig {
  size_t warmup_iterations = 100;        // warm-up batches (bounded by max_warmup_s)
  size_t measurement_iterations = 1000;  // samples; each sample is one timed batch
  bool use_simd = true;                  // false: run under the scalar target only
  bool verbose = false;                  // per-benchmark detail lines on stdout
  double min_sample_time_s = 20e-6;      // a batch lasts at least this long
  double max_time_s = 1.0;               // measurement time per benchmark, at most
  double max_warmup_s = 0.2;             // warm-up time per benchmark, at most
  size_t min_samples = 10;               // taken even when max_time_s is exceeded
  std::string filter;                    // ECMAScript regex searched in the name
  std::string target = "best";           // best | scalar | all | a Highway target name
  bool counters = false;                 // open perf counters
  std::vector<std::string> counter_events;  // empty: the default groups; else one
                                            // group per entry, events joined by '+'
  int cpu = -1;                          // pin to this CPU; -1: isolated CPU if any
  size_t threads = 2;                    // thread count of the multi-threaded entries
  // Values of the options suites register (register_suite_option), by
  // SuiteOption::name; a switch given is "1". The harness never reads them.
  std::map<std::string, std::string> suite_options;
  bool progress = true;                  // progress line on stderr when it is a tty
  // Repetitions: each runs every selected entry again (setup, batch sizing,
  // warm-up, samples), entries in a shuffled order per repetition, so drift
  // over time spreads over all entries and the verdict against a baseline
  // can test repetition medians (baselines need at least 5; 10 recommended).
  size_t repetitions = 1;
  std::optional<uint64_t> seed;          // shuffling seed; nullopt: a random one (recorded)
  bool quick = false;                    // --quick: few short samples, a smoke run of every entry

  // suite_options[name], or "" when it was not given.
  std::string suite_option(const std::string& name) const {
    auto it = suite_options.find(name);
    return it == suite_options.end() ? std::string() : it->second;
  }
};

// Runs the operation under test `count` times. Every fallible call in it is
// checked: the first failure is returned (with what was being run), which
// ends the benchmark with that error instead of timing a sample.
using BatchFn = std::function<absl::Status(uint64_t count)>;

// "At most this much time per item", where an item is what items_per_op
// counts (a call, a block, a token). Either bound may be 0 (unused); with
// both 0 the label is a note printed as it stands and never judged (e.g.
// "vs llama.cpp: not run (--llama-bench PATH)").
// What a bound is checked on: the median time per item (the operation's
// median / items_per_op), or the p99 of the per-item latencies the body
// reported (report_item_latencies_ns), e.g. "< 200 ms per token" judged on
// the slow tokens rather than the typical one.
enum class TargetOn { kMedian, kP99ItemLatency };
struct SpeedTarget {
  std::string label;              // e.g. "spec" (the spec's absolute targets)
  double max_ns_per_item = 0;     // wall time
  double max_cycles_per_item = 0; // TSC cycles (median only)
  TargetOn on = TargetOn::kMedian;
};

// "This benchmark's median is at least min_speedup times faster than
// `other`'s, measured in the same run" (e.g. 1.2× OpenBLAS; 0.91 = "within 10%").
// Passes when `other`'s median time / this one's ≥ min_speedup; with
// by_bytes, when this benchmark's bytes/s are ≥ min_speedup × other's (e.g.
// ≥ 0.8 of a bandwidth probe's GB/s). Both medians come from the same run,
// so the verdict does not depend on how fast the machine is.
struct RatioTarget {
  std::string other;
  double min_speedup = 1.0;
  bool by_bytes = false;
  // > 0: the speedup required grows with the vector width this entry ran
  // under, min_speedup + speedup_per_width_doubling × log2(vector bits / 128),
  // for a comparison with a scalar companion (scalar_companion()): a wider
  // vector should buy more, though less than twice per doubling in a short
  // kernel whose call, checks and horizontal sums do not shrink. Against a
  // scalar companion, an entry that ran under the companion's own target
  // (--target scalar) is not judged (n/a).
  double speedup_per_width_doubling = 0;
};

struct BenchmarkSpec {
  std::string name;                // "area/op/shape", e.g. "ops/dot/384"
  std::string item_name = "op";    // the unit of items_per_op
  double items_per_op = 1;
  double bytes_per_op = 0;         // memory traffic, for bytes/s (0: not reported)
  double flops_per_op = 0;         // floating-point operations, for FLOP/s
  size_t threads = 1;              // threads the operation uses
  bool per_target = true;          // false: unaffected by the Highway target (e.g. OpenBLAS)
  std::vector<SpeedTarget> targets;
  std::vector<RatioTarget> ratio_targets;  // each judged on its own
  // Non-empty: the entry always runs under this Highway target ("scalar":
  // the portable fallback), once, whatever --target says; a reference that
  // other entries' ratio targets compare with (see scalar_companion()).
  std::string fixed_target;
  // The body measures its own time, like google/benchmark's UseManualTime
  // (e.g. a peer program's own figure, without its start-up and model
  // loading): each call of the BatchFn reports the ns of its `count`
  // operations with report_batch_time_ns(), and the runner uses that in
  // place of its clock. A call that reports nothing is an error.
  bool manual_time = false;
  // Allocates inputs, returns the timed body. A NotFound or FailedPrecondition
  // error skips the benchmark with that message (a missing vocabulary file, a
  // model too short for the entry); any other error is a failure of the
  // benchmark, reported as its error like a failing body.
  std::function<absl::StatusOr<BatchFn>(const BenchmarkConfig&)> setup;
};

// Statistics of per-operation times in ns. stddev is the sample standard
// deviation (n − 1); percentiles interpolate linearly between order
// statistics (p = (n − 1)·q); mad is the raw median absolute deviation.
struct BenchmarkStats {
  size_t n = 0;
  double min = 0, max = 0, mean = 0, median = 0, stddev = 0;
  double p90 = 0, p99 = 0, mad = 0;
  size_t three_sigma_outliers = 0;    // samples with x − median > 3·stddev (the spec's rule)
  size_t robust_outliers = 0;  // samples outside median ± 5·MAD (none when MAD = 0)
};
BenchmarkStats compute_stats(std::span<const double> samples_ns);

// Per-item latencies (ns) a body reported, e.g. each generated token's:
// percentiles as compute_stats interpolates them (p = (n − 1)·q).
struct ItemLatencyStats {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};
ItemLatencyStats item_latency_stats(std::span<const double> latencies_ns);

// A part of each operation the body timed itself (report_phase_time_ns),
// e.g. "prefill" and "decode" of a prompt + generation run: totals over the
// measured samples of every repetition.
struct PhaseTime {
  std::string name;
  double items = 0;     // items processed in this phase, all operations
  double total_ns = 0;  // time spent in it, all operations
  double items_per_second() const { return total_ns > 0 ? items * 1e9 / total_ns : 0; }
};

struct CounterResult {
  std::string event;
  std::optional<double> per_op;  // nullopt: did not run (printed as n/a, never 0)
  double running_fraction = 0;   // time_running / time_enabled (1: not multiplexed)
  std::string status;            // "ok" or why not, e.g. "unsupported (ENOENT: no PMU ...)"
  int group = -1;                // the kernel group it was read in; −1: not open
};

// Ratios derived from the counters; nullopt (n/a) when an operand did not run.
struct CounterMetrics {
  std::optional<double> ipc;                    // instructions / cycles
  std::optional<double> cycles_per_item;
  std::optional<double> instructions_per_item;
  std::optional<double> cache_miss_rate;        // cache-misses / cache-references
  std::optional<double> l1d_miss_rate;          // L1D load misses / L1D loads
  std::optional<double> branch_miss_rate;       // branch-misses / branches
  std::optional<double> simd_share;             // vector-op events / their base (instructions)
};

// One repetition of one entry: its own batch size, samples and statistics.
struct RepetitionResult {
  uint64_t batch_size = 0;
  uint64_t total_ops = 0;
  std::vector<double> samples_ns;  // per-operation ns, one per sample
  BenchmarkStats stats;            // of this repetition's samples
  double cpu_ns_per_op = 0;
  std::vector<CounterResult> counters;
  CounterMetrics counter_metrics;  // of this repetition's counters
  std::optional<double> energy_joules_per_op;
};

struct BenchmarkResult {
  std::string name;
  std::string target;              // Highway target the kernels ran under
  std::string skipped;             // non-empty: why it did not run
  std::string error;               // non-empty: it failed (setup or body); no samples
  std::string item_name = "op";
  double items_per_op = 1, bytes_per_op = 0, flops_per_op = 0;
  size_t threads = 1;
  std::vector<SpeedTarget> targets;
  std::vector<RatioTarget> ratio_targets;

  uint64_t batch_size = 0;         // operations per sample (of the first repetition)
  uint64_t total_ops = 0;          // operations measured, all repetitions
  std::vector<double> samples_ns;  // per-operation ns, every repetition's samples in turn
  BenchmarkStats stats;            // over samples_ns
  std::vector<RepetitionResult> repetitions;  // in the order they ran
  double cpu_ns_per_op = 0;        // process or thread CPU time per operation
  double tsc_cycles_per_op = 0;    // median in TSC cycles (0 without a TSC)
  double items_per_second = 0, bytes_per_second = 0, flops_per_second = 0;
  std::vector<CounterResult> counters;
  CounterMetrics counter_metrics;
  std::string counted_threads;     // "measuring thread" or "all threads (inherit)"
  size_t vector_bytes = 0;         // bytes per vector of the Highway target that ran
  // Package energy over the measured phase (the whole package: other cores
  // and idle power included) per operation; per item is this divided by
  // items_per_op (J/token for generate/ entries).
  std::optional<double> energy_joules_per_op;
  std::string energy_status;       // why energy is missing here ("" when measured or no meter)
  // What the body reported with report_item_latencies_ns during the
  // measured samples, every repetition pooled; empty / nullopt when nothing.
  std::vector<double> item_latencies_ns;
  std::optional<ItemLatencyStats> item_latency;
  std::vector<PhaseTime> phases;   // from report_phase_time_ns, in first-reported order

  // Each repetition's median, in order: what the baseline verdict compares.
  std::vector<double> repetition_medians_ns() const;
};

struct SuiteResult {
  std::string timer;               // "tsc", "cntvct" or "clock_monotonic"
  std::string timer_fallback;      // why a faster counter was not used ("" when it was)
  double tsc_ghz = 0;
  int pinned_cpu = -1;             // -1: not pinned
  std::vector<int> isolated_cpus;  // /sys/devices/system/cpu/isolated (isolcpus=)
  std::vector<int> nohz_full_cpus; // /sys/devices/system/cpu/nohz_full
  bool pinned_cpu_isolated = false;
  bool pinned_cpu_nohz_full = false;
  std::string governor;            // of the pinned CPU; "unknown" without cpufreq
  bool virtualized = false;
  std::string hypervisor;          // how virtualisation was decided, or "unknown"
  std::string energy_source;       // e.g. "powercap intel-rapl:0 (package-0)"; "n/a" when none
  std::vector<std::string> energy_unavailable;  // why each energy method was not used
  std::string counter_capacity;    // free hardware counters as probed, with the reason
  std::string simd_events;         // what counts vector ops, or "n/a: <why>"
  std::vector<std::string> targets_run;
  std::vector<std::string> warnings;  // pinning, governor, counters, energy: returned, never printed
  size_t repetitions = 1;
  uint64_t seed = 0;               // the order of entries in each repetition follows from it
  bool quick = false;
  std::vector<std::pair<std::string, std::string>> context;  // from set_run_context, by key
  std::vector<BenchmarkResult> results;
};

// For a manual_time body: the time its current batch took, in ns (the last
// call before the body returns counts). Thread-local: call it on the thread
// that runs the body.
void report_batch_time_ns(double ns);

// Latencies of the items the current call processed (e.g. one per
// generated token, in ns): the runner keeps those of measured samples
// (not of batch sizing or warm-up) in BenchmarkResult::item_latency.
// Thread-local like report_batch_time_ns; each call appends.
void report_item_latencies_ns(std::span<const double> ns);
// Time the current call spent in a named phase and the items it processed
// there (e.g. "prefill", 512 tokens): summed per name into
// BenchmarkResult::phases over the measured samples. Thread-local.
void report_phase_time_ns(const std::string& phase, double items, double ns);

// A fact a benchmark learns while it runs, e.g. the version a peer program
// reports: run_benchmarks() copies these into SuiteResult::context, which
// the console header and the JSON context print. Setting a key again
// replaces its value.
void set_run_context(const std::string& key, const std::string& value);

// An option a suite adds to llmk-bench's command line, e.g. --model FILE.
struct SuiteOption {
  std::string name;        // the flag without "--", e.g. "model"
  std::string value_name;  // e.g. "FILE"; empty: a switch, stored as "1" when given
  std::string help;        // one line for --help
  std::string env;         // environment variable read when the flag is absent ("": none)
  // Checks a value before any benchmark runs (e.g. "an executable file");
  // an error is a usage error naming the flag. Optional.
  std::function<absl::Status(const std::string& value)> check;
};
// Returns true, so a suite file can register from a static initializer.
bool register_suite_option(SuiteOption option);
const std::vector<SuiteOption>& registered_suite_options();

// Suites add specs for a configuration (suite options, thread counts) when run.
using SuiteFn = void (*)(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out);
// Returns true, so a suite file can register itself from a static initializer.
bool register_suite(const char* name, SuiteFn fn);
void register_benchmark(BenchmarkSpec spec);
// Every registered benchmark for `config`, filter not applied.
std::vector<BenchmarkSpec> collect_benchmarks(const BenchmarkConfig& config);

// The same-run scalar reference of `spec`: named "<spec.name>/scalar", the
// same setup and body run under Highway's scalar fallback only
// (fixed_target "scalar"), without targets of its own. Register it beside
// `spec` and give `spec` a ratio target on it (scalar_ratio_target()).
BenchmarkSpec scalar_companion(const BenchmarkSpec& spec);
inline constexpr const char* kScalarCompanionSuffix = "/scalar";
// "At least min_speedup_at_128_bits + speedup_per_width_doubling ×
// log2(vector bits / 128) times faster than <name>/scalar".
RatioTarget scalar_ratio_target(const std::string& name, double min_speedup_at_128_bits,
                                double speedup_per_width_doubling);

// Runs the registered benchmarks matching config.filter, and the entries
// their ratio targets compare with (a scalar companion, a peer). Errors: a bad
// filter regex, an unknown target, a CPU that cannot be pinned.
absl::StatusOr<SuiteResult> run_benchmark_suite(const BenchmarkConfig& config);
absl::StatusOr<SuiteResult> run_benchmarks(std::span<const BenchmarkSpec> specs,
                                           const BenchmarkConfig& config);

// The console table: median, spread, throughput, targets with PASS/FAIL.
void print_summary(const SuiteResult& result, std::FILE* out = stdout);

// An extra console section a suite prints after the summary (e.g. a table
// across several of its entries); it prints nothing when its entries did
// not run. Returns true, so a suite file can register from a static
// initializer; print_summary calls every registered one in order.
using ReportSectionFn = void (*)(const SuiteResult& result, std::FILE* out);
bool register_report_section(ReportSectionFn fn);

// llmk-bench's command line; returns the process exit code: 0 ok,
// 1 regression against --baseline, 2 inconclusive comparison, 3 usage error,
// 4 an entry ended with an error, 5 a baseline entry missing or skipped in
// this run, 6 a speed target FAIL under --check-targets. When several
// apply: 4, then 1, 5, 6, 2.
int bench_main(int argc, char** argv);

}  // namespace llmk::bench
