#include <llmk/bench.h>
#include <llmk/bench_reporter.h>
#include <memory>
#include <numeric>
#include <vector>
namespace lb = llmk::bench;
int main() {
  lb::BenchmarkSpec spec{.name = "mine/sum/4096", .items_per_op = 4096};
  spec.setup = [](const lb::BenchmarkConfig&) -> absl::StatusOr<lb::BatchFn> {
    auto v = std::make_shared<std::vector<float>>(4096, 2.0f);
    return lb::BatchFn([v](uint64_t n) {
      for (uint64_t i = 0; i < n; ++i) lb::do_not_optimize(std::accumulate(v->begin(), v->end(), 0.0f));
      return absl::OkStatus();
    });
  };
  lb::BenchmarkConfig config{.counters = true, .cpu = 0, .repetitions = 5};
  auto result = lb::run_benchmarks({&spec, 1}, config);
  return result.ok() && lb::console_reporter()->report(*result).ok() &&
         lb::json_reporter("mine.json")->report(*result).ok() ? 0 : 1;
}
