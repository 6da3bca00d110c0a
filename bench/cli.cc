#include "cli.h"


#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "harness/baseline.h"
#include "harness/perf_counters.h"
#include "llmk/bench_reporter.h"
#include "report/report.h"
#include "util/check.h"

namespace llmk::bench {
namespace {

template <class T>
absl::Status parse_number(const std::string& flag, const std::string& text, T* out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' is not a valid number"));
  }
  return absl::OkStatus();
}

const SuiteOption* find_suite_option(const std::string& flag) {
  if (flag.rfind("--", 0) != 0) return nullptr;
  for (const SuiteOption& option : registered_suite_options()) {
    if (flag.compare(2, std::string::npos, option.name) == 0) return &option;
  }
  return nullptr;
}

}  // namespace

std::string cli_usage() {
  std::string usage = "usage: llmk-bench [options]\n"
         "  --filter REGEX        run benchmarks whose name matches (ECMAScript regex)\n"
         "  --list                list benchmark names and exit\n"
         "  --json FILE           google/benchmark-compatible JSON with raw samples\n"
         "  --csv FILE            one CSV row per benchmark\n"
         "  --warmup N            warm-up batches (default 100, at most 0.2 s)\n"
         "  --iterations N        samples per benchmark (default 1000, at most --max-time)\n"
         "  --min-time S          seconds one sample lasts at least (default 20e-6)\n"
         "  --max-time S          measurement seconds per benchmark and repetition, at most\n"
         "                        (default 1)\n"
         "  --cpu N               pin to CPU N (default: an isolated CPU if any)\n"
         "  --target T            best | scalar | all | a Highway target name (AVX2, ...)\n"
         "  --counters[=LIST]     perf counters: the default groups, one per metric (IPC,\n"
         "                        cache, branch, L1D, SIMD share, software), or LIST: groups\n"
         "                        separated by ',', events of a group joined by '+'; each\n"
         "                        group is scheduled all or nothing, e.g.\n"
         "                        --counters=cycles+instructions,task-clock,page-faults\n"
         "  --repetitions N       run every entry N times, shuffled anew each time (default 1;\n"
         "                        with --baseline, as many as the baseline has)\n"
         "  --seed N              seed of the shuffled order (default: random; in the JSON)\n"
         "  --quick               every entry, few short samples: a smoke run (1 repetition)\n"
         "  --save-baseline FILE  save results with raw samples for a later --baseline; needs\n"
         "                        --repetitions 5 or more (10 recommended)\n"
         "  --baseline FILE       compare each entry's repetition medians with the baseline's\n"
         "  --check-targets       a speed target FAIL sets exit code 6\n"
         "  --threads N           threads of the multi-threaded entries (default 2)\n"
         "  --verbose             per-benchmark detail lines\n"
         "exit codes: 0 ok; 1 regression against --baseline; 2 inconclusive comparison;\n"
         "  3 usage error; 4 an entry ended with an error (printed in its row);\n"
         "  5 an entry of the baseline missing or skipped in this run; 6 a target FAIL\n"
         "  under --check-targets. When several apply: 4, 1, 5, 6, then 2.\n";
  const std::vector<SuiteOption>& options = registered_suite_options();
  if (!options.empty()) usage += "options of the suites:\n";
  for (const SuiteOption& option : options) {
    std::string left = absl::StrCat("  --", option.name);
    if (!option.value_name.empty()) absl::StrAppend(&left, " ", option.value_name);
    left.resize(std::max<size_t>(left.size() + 1, 24), ' ');
    absl::StrAppend(&usage, left, option.help);
    if (!option.env.empty()) absl::StrAppend(&usage, " (default: $", option.env, ")");
    usage += "\n";
  }
  return usage;
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
  std::set<std::string> given;  // flags set explicitly, which --quick leaves alone
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline = true;
    }
    auto value = [&](std::string* out) -> absl::Status {
      if (has_inline) {
        *out = inline_value;
      } else if (i + 1 < args.size()) {
        *out = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
      }
      return absl::OkStatus();
    };
    std::string v;
    given.insert(flag);
    if (flag == "--help" || flag == "-h") {
      o.help = true;
    } else if (flag == "--list") {
      o.list = true;
    } else if (flag == "--verbose" || flag == "-v") {
      c.verbose = true;
    } else if (flag == "--quick") {
      c.quick = true;
    } else if (flag == "--check-targets") {
      o.check_targets = true;
    } else if (flag == "--repetitions") {
      LLMK_RETURN_IF_ERROR(value(&v));
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &c.repetitions));
      if (c.repetitions == 0 || c.repetitions > 1000) {
        return absl::InvalidArgumentError("--repetitions must be in [1, 1000]");
      }
      o.repetitions_given = true;
    } else if (flag == "--seed") {
      LLMK_RETURN_IF_ERROR(value(&v));
      uint64_t seed = 0;
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &seed));
      // JSON readers hold numbers as doubles: larger seeds would not read back exactly.
      if (seed >= (uint64_t{1} << 53)) return absl::InvalidArgumentError("--seed must be below 2^53");
      c.seed = seed;
    } else if (flag == "--counters") {
      c.counters = true;
      // The list is optional: "--counters" alone, "--counters=a,b" or "--counters a,b".
      if (has_inline) {
        v = inline_value;
      } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        v = args[++i];
      }
      if (!v.empty()) {
        for (absl::string_view e : absl::StrSplit(v, ',', absl::SkipEmpty())) {
          c.counter_events.emplace_back(e);
        }
        LLMK_RETURN_IF_ERROR(parse_counter_groups(c.counter_events).status());
      }
    } else if (flag == "--filter") {
      LLMK_RETURN_IF_ERROR(value(&c.filter));
    } else if (flag == "--json") {
      LLMK_RETURN_IF_ERROR(value(&o.json_path));
    } else if (flag == "--csv") {
      LLMK_RETURN_IF_ERROR(value(&o.csv_path));
    } else if (flag == "--save-baseline") {
      LLMK_RETURN_IF_ERROR(value(&o.save_baseline_path));
    } else if (flag == "--baseline") {
      LLMK_RETURN_IF_ERROR(value(&o.baseline_path));
    } else if (flag == "--target") {
      LLMK_RETURN_IF_ERROR(value(&c.target));
    } else if (flag == "--warmup") {
      LLMK_RETURN_IF_ERROR(value(&v));
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &c.warmup_iterations));
    } else if (flag == "--iterations") {
      LLMK_RETURN_IF_ERROR(value(&v));
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &c.measurement_iterations));
      if (c.measurement_iterations == 0) return absl::InvalidArgumentError("--iterations must be > 0");
    } else if (flag == "--threads") {
      LLMK_RETURN_IF_ERROR(value(&v));
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &c.threads));
      if (c.threads == 0 || c.threads > 1024) {
        return absl::InvalidArgumentError("--threads must be in [1, 1024]");
      }
    } else if (flag == "--cpu") {
      LLMK_RETURN_IF_ERROR(value(&v));
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &c.cpu));
      if (c.cpu < 0) return absl::InvalidArgumentError("--cpu must be >= 0");
    } else if (flag == "--min-time" || flag == "--max-time") {
      LLMK_RETURN_IF_ERROR(value(&v));
      double seconds = 0;
      LLMK_RETURN_IF_ERROR(parse_number(flag, v, &seconds));
      if (!(seconds > 0) || seconds > 3600) {
        return absl::InvalidArgumentError(absl::StrCat(flag, " must be in (0, 3600] seconds"));
      }
      (flag == "--min-time" ? c.min_sample_time_s : c.max_time_s) = seconds;
    } else if (const SuiteOption* option = find_suite_option(flag); option != nullptr) {
      if (option->value_name.empty()) {
        if (has_inline) return absl::InvalidArgumentError(absl::StrCat(flag, " takes no value"));
        c.suite_options[option->name] = "1";
      } else {
        LLMK_RETURN_IF_ERROR(value(&v));
        if (v.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
        c.suite_options[option->name] = v;
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", args[i], "'"));
    }
  }
  if (c.quick) {
    // Enough to run every entry's setup and body a few times, too short for
    // numbers worth comparing.
    if (!given.count("--warmup")) c.warmup_iterations = 2;
    c.max_warmup_s = 0.002;
    if (!given.count("--min-time")) c.min_sample_time_s = 5e-6;
    if (!given.count("--iterations")) c.measurement_iterations = 5;
    if (!given.count("--max-time")) c.max_time_s = 0.005;
    c.min_samples = std::min<size_t>(c.min_samples, 2);
  }
  // With --baseline and no --repetitions, bench_main takes the baseline's
  // count and checks then.
  if (o.repetitions_given || o.baseline_path.empty()) LLMK_RETURN_IF_ERROR(check_save_baseline(o));
  return o;
}

int bench_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
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
