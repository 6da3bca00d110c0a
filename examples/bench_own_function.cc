// Benchmarking your own function with llmk's harness: pinned, perf counters,
// robust statistics over shuffled repetitions, the console table and JSON.
// Build: c++ -std=c++20 -O2 bench_own_function.cc $(pkg-config --cflags --libs llmk-bench)
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "llmk/bench.h"
#include "llmk/bench_reporter.h"

namespace lb = llmk::bench;

int main() {
  lb::BenchmarkSpec spec;
  spec.name = "mine/sum_of_roots/4096";
  spec.items_per_op = 4096;
  spec.item_name = "element";
  spec.setup = [](const lb::BenchmarkConfig&) -> absl::StatusOr<lb::BatchFn> {
    auto values = std::make_shared<std::vector<float>>(4096, 2.0f);
    return lb::BatchFn([values](uint64_t count) {
      for (uint64_t i = 0; i < count; ++i) {
        float sum = 0;
        for (float v : *values) sum += std::sqrt(v);
        lb::do_not_optimize(sum);
      }
      return absl::OkStatus();
    });
  };
  lb::BenchmarkConfig config;
  config.cpu = 0;            // pin the measuring thread
  config.counters = true;    // perf counters, n/a where the machine has none
  config.repetitions = 5;    // medians over 5 shuffled repetitions
  absl::StatusOr<lb::SuiteResult> result = lb::run_benchmarks({&spec, 1}, config);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
    return 1;
  }
  const bool written = lb::console_reporter()->report(*result).ok() &&
                       lb::json_reporter("mine.json")->report(*result).ok();
  return written ? 0 : 1;
}
