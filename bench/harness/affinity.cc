#include "harness/affinity.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace llmk::bench {
namespace {

std::string join_root(const std::string& root, std::string_view path) {
  if (root.empty() || root == "/") return std::string(path);
  return root + std::string(path);
}

// The first line of a file; nullopt-like `exists` false when it cannot be
// opened, so callers tell "absent" from "empty".
struct FileLine {
  bool exists = false;
  std::string text;
};
FileLine read_first_line(const std::string& path) {
  std::ifstream in(path);
  FileLine f;
  if (!in) return f;
  f.exists = true;
  std::getline(in, f.text);
  while (!f.text.empty() && (f.text.back() == '\n' || f.text.back() == ' ')) f.text.pop_back();
  return f;
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && *out >= 0;
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
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

std::string format_cpu_list(std::span<const int> cpus_in) {
  std::vector<int> cpus(cpus_in.begin(), cpus_in.end());
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    absl::StrAppend(&out, out.empty() ? "" : ",", cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out;
}

absl::StatusOr<std::vector<int>> parse_nohz_full(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text == "(null)") return std::vector<int>{};
  absl::StatusOr<std::vector<int>> cpus = parse_cpu_list(text);
  if (!cpus.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("nohz_full: ", cpus.status().message()));
  }
  return cpus;
}

CpuIsolation read_cpu_isolation(const std::string& root) {
  CpuIsolation out;
  const std::string isolated_path = join_root(root, "/sys/devices/system/cpu/isolated");
  const std::string nohz_path = join_root(root, "/sys/devices/system/cpu/nohz_full");
  if (const FileLine f = read_first_line(isolated_path); f.exists) {
    if (auto cpus = parse_cpu_list(f.text); cpus.ok()) {
      out.isolated = *std::move(cpus);
    } else {
      out.problems.push_back(absl::StrCat(isolated_path, ": ", cpus.status().message()));
    }
  }
  if (const FileLine f = read_first_line(nohz_path); f.exists) {
    if (auto cpus = parse_nohz_full(f.text); cpus.ok()) {
      out.nohz_full = *std::move(cpus);
    } else {
      out.problems.push_back(absl::StrCat(nohz_path, ": ", cpus.status().message()));
    }
  }
  return out;
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

std::vector<int> isolated_cpus(const std::string& root) {
  return read_cpu_isolation(root).isolated;
}

std::string cpu_governor(int cpu, const std::string& root) {
  const FileLine g = read_first_line(join_root(
      root, absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/cpufreq/scaling_governor")));
  return g.text.empty() ? "unknown" : g.text;
}

std::string describe_affinity_errno(int err) {
  switch (err) {
    case EINVAL:
      return "EINVAL: the CPU is offline, absent, or outside this process's cpuset "
             "(cpuset.cpus of its cgroup, e.g. a container's --cpuset-cpus)";
    case EPERM:
      return "EPERM: not permitted to change this thread's affinity";
    case ESRCH:
      return "ESRCH: no such thread";
    case EFAULT:
      return "EFAULT: bad mask address";
    default:
      return absl::StrCat("errno ", err, " (", std::strerror(err), ")");
  }
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
    const int err = errno;
    return absl::InvalidArgumentError(absl::StrCat("sched_setaffinity onto CPUs ",
                                                   format_cpu_list(cpus), " refused (",
                                                   describe_affinity_errno(err), ")"));
  }
  return absl::OkStatus();
}

absl::Status pin_current_thread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu ", cpu, " is out of range"));
  }
  if (absl::Status st = set_thread_cpus({cpu}); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu ", cpu, ": ", st.message()));
  }
  const std::vector<int> now = allowed_cpus();
  if (now.size() != 1 || now[0] != cpu) {
    return absl::InternalError(absl::StrCat("--cpu ", cpu, ": sched_getaffinity reads CPUs ",
                                            format_cpu_list(now), " after pinning"));
  }
  // sched_setaffinity migrates the calling thread before it returns; the
  // yields only give a pending migration a chance before the last check.
  int on = sched_getcpu();
  for (int i = 0; i < 3 && on != cpu; ++i) {
    sched_yield();
    on = sched_getcpu();
  }
  if (on != cpu) {
    return absl::InternalError(
        absl::StrCat("--cpu ", cpu, ": the thread still runs on CPU ", on, " after pinning"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PinChoice> choose_pinned_cpu(int requested_cpu, const CpuIsolation& isolation,
                                            const std::vector<int>& allowed,
                                            const std::function<absl::Status(int cpu)>& try_pin) {
  PinChoice choice;
  const std::string isolated_text = format_cpu_list(isolation.isolated);
  if (requested_cpu >= 0) {
    if (absl::Status st = try_pin(requested_cpu); !st.ok()) return st;
    choice.cpu = requested_cpu;
  } else if (allowed.size() == 1) {
    // Under `taskset -c N` the process is already pinned where the user chose.
    choice.cpu = allowed[0];
  } else {
    std::vector<int> candidates = isolation.isolated;
    std::stable_sort(candidates.begin(), candidates.end(), [&](int a, int b) {
      const bool ta = contains(isolation.nohz_full, a), tb = contains(isolation.nohz_full, b);
      return ta != tb ? ta : a < b;
    });
    for (int c : candidates) {
      if (absl::Status st = try_pin(c); st.ok()) {
        choice.cpu = c;
        break;
      } else {
        choice.warnings.push_back(
            absl::StrCat("isolated CPU ", c, " not used: ", st.message()));
      }
    }
  }
  if (choice.cpu >= 0) {
    choice.isolated = contains(isolation.isolated, choice.cpu);
    choice.nohz_full = contains(isolation.nohz_full, choice.cpu);
    choice.outside_inherited_mask = !contains(allowed, choice.cpu);
  }
  if (isolation.isolated.empty()) {
    choice.warnings.push_back(
        "no isolated CPU (/sys/devices/system/cpu/isolated is empty; boot with isolcpus=): "
        "other tasks may share the measuring CPU");
  } else if (choice.cpu >= 0 && !choice.isolated) {
    choice.warnings.push_back(absl::StrCat("CPU ", choice.cpu, " is not isolated (isolated: ",
                                           isolated_text,
                                           "): other tasks may share the measuring CPU"));
  }
  if (choice.isolated && !choice.nohz_full) {
    choice.warnings.push_back(absl::StrCat(
        "CPU ", choice.cpu, " is isolated but not nohz_full (nohz_full: ",
        isolation.nohz_full.empty() ? "none" : format_cpu_list(isolation.nohz_full),
        "): the scheduler tick still interrupts it"));
  }
  if (choice.cpu < 0) {
    choice.warnings.push_back(
        "not pinned: pass --cpu N or run under taskset -c N for steadier numbers");
  }
  return choice;
}

}  // namespace llmk::bench
