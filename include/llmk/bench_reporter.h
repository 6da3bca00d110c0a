// Where a benchmark run's results go. llmk-bench uses these three; a
// program of your own can use them, or implement Reporter for another sink.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "llmk/bench.h"

namespace llmk::bench {

class Reporter {
 public:
  virtual ~Reporter() = default;
  // Called once with the whole run; an error is the sink's (e.g. a file
  // that cannot be written), never the benchmarks'.
  virtual absl::Status report(const SuiteResult& result) = 0;
};

// The console tables: summary, repetitions, per-target table, counters.
std::unique_ptr<Reporter> console_reporter(std::FILE* out = stdout);
// google/benchmark-compatible JSON with raw samples and counters, to `path`.
std::unique_ptr<Reporter> json_reporter(std::string path);
// One CSV row per benchmark, to `path`.
std::unique_ptr<Reporter> csv_reporter(std::string path);

}  // namespace llmk::bench
