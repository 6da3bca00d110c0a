#include "cli.h"


#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "harness/baseline.h"
#include "harness/perf_counters.h"
#include "history/bmf.h"
#include "history/commands.h"
#include "history/store.h"
#include "llmk/bench_reporter.h"
#include "report/report.h"
#include "util/check.h"

namespace llmk::bench {
namespace {

// The one parser of llmk-bench's flags, storing into `o`; the usage text
// comes from the same object.
void add_flags(llmk::cli::ArgParser& p, CliOptions& o) {
  BenchmarkConfig& c = o.config;
  p.text("--filter", "REGEX", &c.filter, "run benchmarks whose name matches (ECMAScript regex)")
      .flag("--list", &o.list, "list benchmark names and exit")
      .text("--json", "FILE", &o.json_path, "google/benchmark-compatible JSON with raw samples")
      .text("--csv", "FILE", &o.csv_path, "one CSV row per benchmark")
      .unsigned_integer("--warmup", "N", &c.warmup_iterations, 0, 1'000'000'000,
                        "warm-up batches (default 100, at most 0.2 s)")
      .unsigned_integer("--iterations", "N", &c.measurement_iterations, 1, 1'000'000'000,
                        "samples per benchmark (default 1000, at most --max-time)")
      .real("--min-time", "S", &c.min_sample_time_s, 1e-9, 3600,
            "seconds one sample lasts at least (default 20e-6)")
      .real("--max-time", "S", &c.max_time_s, 1e-9, 3600,
            "measurement seconds per benchmark and repetition, at most\n(default 1)")
      .custom("--cpu", "N", [&c](const std::string& v) -> absl::Status {
        uint64_t cpu = 0;
        LLMK_RETURN_IF_ERROR(llmk::cli::parse_unsigned(v, 0, 1 << 20, &cpu));
        c.cpu = static_cast<int>(cpu);
        return absl::OkStatus();
      }, "pin to CPU N (default: an isolated CPU if any)")
      .text("--target", "T", &c.target, "best | scalar | all | a Highway target name (AVX2, ...)")
      .optional_text("--counters", "LIST", &c.counters, &o.counter_list,
                     "perf counters: the default groups, one per metric (IPC,\n"
                     "cache, branch, L1D, SIMD share, software), or LIST: groups\n"
                     "separated by ',', events of a group joined by '+'; each\n"
                     "group is scheduled all or nothing, e.g.\n"
                     "--counters=cycles+instructions,task-clock,page-faults")
      .unsigned_integer("--repetitions", "N", &c.repetitions, 1, 1000,
                        "run every entry N times, shuffled anew each time (default 1;\n"
                        "with --baseline, as many as the baseline has)")
      // JSON readers hold numbers as doubles: larger seeds would not read back exactly.
      .custom("--seed", "N", [&c](const std::string& v) -> absl::Status {
        uint64_t seed = 0;
        LLMK_RETURN_IF_ERROR(llmk::cli::parse_unsigned(v, 0, (uint64_t{1} << 53) - 1, &seed));
        c.seed = seed;
        return absl::OkStatus();
      }, "seed of the shuffled order (default: random; in the JSON)")
      .flag("--quick", &c.quick, "every entry, few short samples: a smoke run (1 repetition)")
      .text("--save-baseline", "FILE", &o.save_baseline_path,
            "save results with raw samples for a later --baseline; needs\n"
            "--repetitions 5 or more (10 recommended)")
      .text("--baseline", "FILE", &o.baseline_path,
            "compare each entry's repetition medians with the baseline's")
      .optional_text("--db", "PATH", &o.db, &o.db_path,
                     "append the run to the results history (SQLite); without\n"
                     "PATH: $XDG_DATA_HOME/llmk/bench.sqlite, else\n"
                     "~/.local/share/llmk/bench.sqlite (docs/history.md)")
      .text("--machine", "NAME", &o.machine, "machine name in the history (default: the hostname)")
      .text("--bmf", "FILE", &o.bmf_path, "Bencher Metric Format JSON (counters as extra measures)")
      .flag("--check-targets", &o.check_targets, "a speed target FAIL sets exit code 6")
      .unsigned_integer("--threads", "N", &c.threads, 1, 1024,
                        "threads of the multi-threaded entries (default 2)")
      .flag("--verbose|-v", &c.verbose, "per-benchmark detail lines");
  const std::vector<SuiteOption>& options = registered_suite_options();
  if (!options.empty()) p.heading("options of the suites:");
  for (const SuiteOption& option : options) {
    std::string help = option.help;
    if (!option.env.empty()) absl::StrAppend(&help, " (default: $", option.env, ")");
    const std::string name = option.name;
    p.custom("--" + name, option.value_name, [&c, name](const std::string& v) {
      c.suite_options[name] = v.empty() ? "1" : v;
      return absl::OkStatus();
    }, help);
  }
  p.epilog("subcommands: llmk-bench history [--db PATH] [--filter RE] [--machine M]\n"
           "             llmk-bench compare A B [--db PATH] [--machine M]  (run ids or commits)\n"
           "             llmk-bench report -o FILE [--db PATH] [--filter RE] [--machine M]\n"
           "             (an HTML page; --help after any of them for its options)\n"
           "exit codes: 0 ok; 1 regression against --baseline; 2 inconclusive comparison;\n"
           "  3 usage error; 4 an entry ended with an error (printed in its row);\n"
           "  5 an entry of the baseline missing or skipped in this run; 6 a target FAIL\n"
           "  under --check-targets. When several apply: 4, 1, 5, 6, then 2.\n");
}

}  // namespace

std::string cli_usage() {
  CliOptions unused;
  llmk::cli::ArgParser parser("llmk-bench", "[options]");
  add_flags(parser, unused);
  return parser.usage();
}

absl::Status apply_suite_option_defaults(BenchmarkConfig& config) {
  for (const SuiteOption& option : registered_suite_options()) {
    if (!config.suite_options.count(option.name) && !option.env.empty()) {
      if (const char* from_env = std::getenv(option.env.c_str()); from_env != nullptr && *from_env) {
        config.suite_options[option.name] = from_env;
      }
    }
    auto it = config.suite_options.find(option.name);
    if (it == config.suite_options.end() || !option.check) continue;
    if (absl::Status st = option.check(it->second); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", option.name, option.env.empty() ? "" : absl::StrCat(" (or $", option.env, ")"),
          " ", it->second, ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

int entry_error_exit_code(const SuiteResult& result) {
  for (const BenchmarkResult& r : result.results) {
    if (!r.error.empty()) return kExitEntryError;
  }
  return kExitOk;
}

absl::Status check_save_baseline(const CliOptions& options) {
  if (options.save_baseline_path.empty() ||
      options.config.repetitions >= kMinBaselineRepetitions) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--save-baseline needs --repetitions ", kMinBaselineRepetitions, " or more (",
      kRecommendedRepetitions, " recommended), got ", options.config.repetitions,
      ": the verdict tests repetition medians, and with fewer a side it can never reach p < 0.01"));
}

absl::StatusOr<CliOptions> parse_cli(const std::vector<std::string>& args) {
  CliOptions o;
  BenchmarkConfig& c = o.config;
  llmk::cli::ArgParser parser("llmk-bench", "[options]");
  add_flags(parser, o);
  LLMK_RETURN_IF_ERROR(parser.parse(args));
  o.help = parser.help_requested();
  o.repetitions_given = parser.given("--repetitions");
  if (c.counters && !o.counter_list.empty()) {
    for (absl::string_view e : absl::StrSplit(o.counter_list, ',', absl::SkipEmpty())) {
      c.counter_events.emplace_back(e);
    }
    if (absl::Status st = parse_counter_groups(c.counter_events).status(); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--counters: ", st.message()));
    }
  }
  auto given = [&parser](const char* flag) { return parser.given(flag); };
  if (c.quick) {
    // Enough to run every entry's setup and body a few times, too short for
    // numbers worth comparing.
    if (!given("--warmup")) c.warmup_iterations = 2;
    c.max_warmup_s = 0.002;
    if (!given("--min-time")) c.min_sample_time_s = 5e-6;
    if (!given("--iterations")) c.measurement_iterations = 5;
    if (!given("--max-time")) c.max_time_s = 0.005;
    c.min_samples = std::min<size_t>(c.min_samples, 2);
  }
  // With --baseline and no --repetitions, bench_main takes the baseline's
  // count and checks then.
  if (o.repetitions_given || o.baseline_path.empty()) LLMK_RETURN_IF_ERROR(check_save_baseline(o));
  return o;
}

int bench_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "history" || args[0] == "compare" || args[0] == "report")) {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "report") return history::report_main(rest);
    return args[0] == "history" ? history::history_main(rest) : history::compare_main(rest);
  }
  absl::StatusOr<CliOptions> options = parse_cli(args);
  if (!options.ok()) {
    std::fprintf(stderr, "llmk-bench: %s\n%s", std::string(options.status().message()).c_str(),
                 cli_usage().c_str());
    return kExitUsage;
  }
  if (options->help) {
    std::printf("%s", cli_usage().c_str());
    return kExitOk;
  }
  BenchmarkConfig& config = options->config;
  if (absl::Status st = apply_suite_option_defaults(config); !st.ok()) {
    std::fprintf(stderr, "llmk-bench: %s\n", std::string(st.message()).c_str());
    return kExitUsage;
  }
  if (options->list) {
    for (const BenchmarkSpec& s : collect_benchmarks(config)) std::printf("%s\n", s.name.c_str());
    return kExitOk;
  }
  Baseline baseline;
  if (!options->baseline_path.empty()) {  // fail before a long run, not after
    auto loaded = load_baseline(options->baseline_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "llmk-bench: %s\n", std::string(loaded.status().message()).c_str());
      return kExitUsage;
    }
    baseline = *std::move(loaded);
    if (!options->repetitions_given) {
      config.repetitions = std::clamp<size_t>(max_repetitions(baseline), 1, 1000);
      std::fprintf(stderr, "llmk-bench: %zu repetitions, as in the baseline\n",
                   config.repetitions);
      if (absl::Status st = check_save_baseline(*options); !st.ok()) {
        std::fprintf(stderr, "llmk-bench: %s\n", std::string(st.message()).c_str());
        return kExitUsage;
      }
    }
  }
  std::unique_ptr<history::ResultStore> store;
  if (options->db) {  // open before the run, so a bad path fails before a long run
    absl::StatusOr<std::string> path =
        options->db_path.empty() ? history::default_store_path() : options->db_path;
    absl::StatusOr<std::unique_ptr<history::ResultStore>> opened =
        path.ok() ? history::open_store(*path)
                  : absl::StatusOr<std::unique_ptr<history::ResultStore>>(path.status());
    if (!opened.ok()) {
      std::fprintf(stderr, "llmk-bench: %s\n", std::string(opened.status().message()).c_str());
      return kExitUsage;
    }
    store = *std::move(opened);
  }
  absl::StatusOr<SuiteResult> result = run_benchmark_suite(config);
  if (!result.ok()) {
    std::fprintf(stderr, "llmk-bench: %s\n", std::string(result.status().message()).c_str());
    return kExitUsage;
  }
  for (const std::string& warning : result->warnings) {
    std::fprintf(stderr, "llmk-bench: warning: %s\n", warning.c_str());
  }
  std::vector<std::unique_ptr<Reporter>> reporters;
  reporters.push_back(console_reporter(stdout));
  for (const std::string* path : {&options->json_path, &options->save_baseline_path}) {
    if (!path->empty()) reporters.push_back(json_reporter(*path));
  }
  if (!options->csv_path.empty()) reporters.push_back(csv_reporter(options->csv_path));
  for (const std::unique_ptr<Reporter>& reporter : reporters) {
    if (absl::Status st = reporter->report(*result); !st.ok()) {
      std::fprintf(stderr, "llmk-bench: %s\n", std::string(st.message()).c_str());
      return kExitUsage;
    }
  }
  if (!options->bmf_path.empty()) {
    if (absl::Status st = write_text_file(options->bmf_path, history::format_bmf(*result));
        !st.ok()) {
      std::fprintf(stderr, "llmk-bench: --bmf: %s\n", std::string(st.message()).c_str());
      return kExitUsage;
    }
  }
  if (store) {
    absl::StatusOr<int64_t> run_id = store->append(history::make_run_record(
        *result, history::collect_run_metadata(*result, options->machine)));
    if (!run_id.ok()) {
      std::fprintf(stderr, "llmk-bench: --db: %s\n", std::string(run_id.status().message()).c_str());
      return kExitUsage;  // as a report file that cannot be written
    }
    std::fprintf(stderr, "llmk-bench: run %lld appended to the history\n",
                 static_cast<long long>(*run_id));
  }
  const int error_exit = entry_error_exit_code(*result);
  if (error_exit != kExitOk) {
    for (const BenchmarkResult& r : result->results) {
      if (r.error.empty()) continue;
      std::fprintf(stderr, "llmk-bench: %s: error: %s\n", r.name.c_str(), r.error.c_str());
    }
  }
  std::vector<Comparison> comparisons;
  if (!options->baseline_path.empty()) {
    comparisons = compare_with_baseline(*result, baseline, config.filter);
    print_comparisons(comparisons, stdout);
  }
  const size_t failed_targets = options->check_targets ? count_failed_targets(*result) : 0;
  if (failed_targets > 0) {
    std::fprintf(stderr, "llmk-bench: %zu speed target%s FAIL (--check-targets)\n",
                 failed_targets, failed_targets == 1 ? "" : "s");
  }
  if (error_exit != kExitOk) return error_exit;  // a failed entry outranks any comparison
  return run_exit_code(comparisons, failed_targets);
}

}  // namespace llmk::bench
