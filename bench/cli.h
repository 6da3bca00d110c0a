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

}  // namespace llmk::bench
