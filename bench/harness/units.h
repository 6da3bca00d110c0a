// Human-readable times and rates, shared by the verdicts and the reports.
#pragma once

#include <string>

namespace llmk::bench {

// "12.3 ns", "4.56 us", "7.89 ms", "1.23 s" (three significant digits).
std::string format_ns(double ns);
// "81.3 M" style with an SI prefix, then the unit.
std::string format_rate(double per_second, const char* unit);

}  // namespace llmk::bench
