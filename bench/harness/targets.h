// Speed-target verdicts: each SpeedTarget and RatioTarget of a result judged
// against its own statistics and, for a ratio, another entry of the same run.
// The report writers print these verdicts; --check-targets counts the FAILs.
#pragma once

#include <string>
#include <vector>

#include "llmk/bench.h"

namespace llmk::bench {

// "ops/dot/384@AVX2" → "ops/dot/384" (the suffix --target all adds).
std::string base_name(const std::string& name);

// One speed target's verdict on a result.
struct TargetCheck {
  std::string text;  // "spec <=1 us/op PASS", "3.45x vs ops/dot/384/scalar (>=2.30x) PASS"
  bool pass = false;
  bool judged = true;  // false: a note (a SpeedTarget without bounds), never PASS or FAIL
  // A ratio target's: the other entry, the measured ratio (speedup, or share
  // of the other's bytes/s) and the ratio required; ratio 0 when not measured.
  std::string other;
  double ratio = 0;
  double required = 0;
};
std::vector<TargetCheck> check_targets(const BenchmarkResult& r, const SuiteResult& suite);

}  // namespace llmk::bench
