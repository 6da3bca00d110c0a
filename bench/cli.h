// llmk-bench's command line, parsed into a BenchmarkConfig plus the output
// options. Pure, so the parser is testable.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/bench.h"

namespace llmk::bench {

struct CliOptions {
  BenchmarkConfig config;
  bool list = false;
  bool help = false;
  bool check_targets = false;      // a speed target FAIL makes the exit code non-zero
  bool repetitions_given = false;  // else --baseline runs as many as the baseline has
  std::string json_path, csv_path, save_baseline_path, baseline_path;
  std::string counter_list;        // --counters=LIST as given; parsed into config.counter_events
  bool db = false;                 // --db[=PATH]: append the run to the history (docs/history.md)
  std::string db_path;             // "" with db: the default location
  std::string machine;             // --machine NAME: the history's machine name (default hostname)
  std::string bmf_path;            // --bmf FILE: Bencher Metric Format JSON
};

// Errors name the flag. --quick sets short warm-up and sampling times and few
// samples, each unless the same setting is given explicitly.
absl::StatusOr<CliOptions> parse_cli(const std::vector<std::string>& args);
// --save-baseline with fewer than kMinBaselineRepetitions repetitions is an
// error: such a baseline could never show a regression.
absl::Status check_save_baseline(const CliOptions& options);
// The usage text, the registered suite options last.
std::string cli_usage();
// Fills each registered suite option that was not given from its
// environment variable, then runs the options' checks; errors name the flag.
absl::Status apply_suite_option_defaults(BenchmarkConfig& config);

// kExitEntryError (baseline.h) when any result has an error (its setup or
// timed body failed: the run's numbers cannot be trusted whatever else
// passed), else kExitOk.
int entry_error_exit_code(const SuiteResult& result);

}  // namespace llmk::bench
