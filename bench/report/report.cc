#include "report/report.h"


#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "harness/affinity.h"
#include "harness/json.h"
#include "harness/stats.h"
#include "harness/targets.h"


namespace llmk::bench {
std::optional<double> energy_joules_per_item(const BenchmarkResult& r) {
  if (!r.energy_joules_per_op || !(r.items_per_op > 0)) return std::nullopt;
  return *r.energy_joules_per_op / r.items_per_op;
}

std::optional<double> counter_per_op(const BenchmarkResult& r, const std::string& event) {
  for (const CounterResult& c : r.counters) {
    if (c.event == event && c.per_op) return c.per_op;
  }
  return std::nullopt;
}

absl::Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot open '", path, "' for writing"));
  out << text;
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}


}  // namespace llmk::bench
