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
  std::string json_path, csv_path, save_baseline_path, baseline_path;
};

absl::StatusOr<CliOptions> parse_cli(const std::vector<std::string>& args);
const char* cli_usage();

// bench_main's exit code when an entry ended with an error (its setup or
// timed body failed): the run's numbers cannot be trusted whatever else passed.
constexpr int kExitEntryError = 4;
// kExitEntryError when any result has an error, else 0.
int entry_error_exit_code(const SuiteResult& result);

}  // namespace llmk::bench
