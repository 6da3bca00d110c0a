#include "harness/units.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace llmk::bench {

std::string format_ns(double ns) {
  if (!std::isfinite(ns)) return "n/a";
  const double a = std::fabs(ns);
  if (a < 1e3) return absl::StrFormat("%.3g ns", ns);
  if (a < 1e6) return absl::StrFormat("%.3g us", ns / 1e3);
  if (a < 1e9) return absl::StrFormat("%.3g ms", ns / 1e6);
  return absl::StrFormat("%.3g s", ns / 1e9);
}

std::string format_rate(double per_second, const char* unit) {
  static const char* prefixes[] = {"", "k", "M", "G", "T"};
  int p = 0;
  while (per_second >= 1000.0 && p < 4) {
    per_second /= 1000.0;
    ++p;
  }
  return absl::StrFormat("%.3g %s%s", per_second, prefixes[p], unit);
}

}  // namespace llmk::bench
