#include "affinity.h"

#include <cerrno>
#include <charconv>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace llmk::bench {
namespace {

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return {};
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && *out >= 0;
}

}  // namespace

absl::StatusOr<std::vector<int>> parse_cpu_list(std::string_view text) {
  std::vector<int> cpus;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t dash = part.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string_view::npos
                        ? (parse_int(part, &lo) && (hi = lo, true))
                        : (parse_int(part.substr(0, dash), &lo) &&
                           parse_int(part.substr(dash + 1), &hi) && lo <= hi);
    if (!ok || hi >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(
          absl::StrCat("cpu list: bad entry '", std::string(part), "'"));
    }
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  return cpus;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

std::vector<int> isolated_cpus() {
  auto cpus = parse_cpu_list(read_first_line("/sys/devices/system/cpu/isolated"));
  return cpus.ok() ? *cpus : std::vector<int>{};
}

std::string cpu_governor(int cpu) {
  const std::string g = read_first_line(
      absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/cpufreq/scaling_governor"));
  return g.empty() ? "unknown" : g;
}

absl::Status set_thread_cpus(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c < 0 || c >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(absl::StrCat("cpu ", c, " is out of range"));
    }
    CPU_SET(c, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sched_setaffinity failed for the requested CPUs (errno ", errno, ")"));
  }
  return absl::OkStatus();
}

absl::Status pin_current_thread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu ", cpu, " is out of range"));
  }
  if (absl::Status st = set_thread_cpus({cpu}); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpu ", cpu, ": cannot pin there (not online or not in this process's "
                     "allowed set, e.g. under taskset)"));
  }
  const std::vector<int> now = allowed_cpus();
  if (now.size() != 1 || now[0] != cpu) {
    return absl::InternalError(absl::StrCat("--cpu ", cpu, ": pinning did not take effect"));
  }
  return absl::OkStatus();
}

}  // namespace llmk::bench
