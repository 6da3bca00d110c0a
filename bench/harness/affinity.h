// CPU pinning and the machine checks that decide whether timings can be
// trusted: isolated and tickless CPUs, the frequency governor.
//
// Every sysfs reader takes `root`, a directory prefixed to the absolute
// paths ("/" on a real system), so tests can build fake trees.
#pragma once

#include <sched.h>

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk::bench {

// Parses the kernel's CPU list format ("0-3,8,10-11"); empty text gives an
// empty list; malformed text is an error naming the offending part.
absl::StatusOr<std::vector<int>> parse_cpu_list(std::string_view text);
// The inverse: ascending CPUs as "0-3,8,10-11"; "" for none.
std::string format_cpu_list(std::span<const int> cpus);
// /sys/devices/system/cpu/nohz_full: a CPU list, or "(null)" (and on some
// kernels an empty line) when the kernel supports nohz_full but none was
// configured.
absl::StatusOr<std::vector<int>> parse_nohz_full(std::string_view text);

// The kernel's isolation settings. A missing file is an empty list (the
// kernel lacks the feature); an unreadable or malformed one is a problem.
struct CpuIsolation {
  std::vector<int> isolated;   // isolcpus= (/sys/devices/system/cpu/isolated)
  std::vector<int> nohz_full;  // nohz_full= (/sys/devices/system/cpu/nohz_full)
  std::vector<std::string> problems;
};
CpuIsolation read_cpu_isolation(const std::string& root = "/");

// CPUs the calling thread may run on (sched_getaffinity).
std::vector<int> allowed_cpus();
// /sys/devices/system/cpu/isolated, parsed; empty when absent.
std::vector<int> isolated_cpus(const std::string& root = "/");
// scaling_governor of one CPU, or "unknown" when there is no cpufreq.
std::string cpu_governor(int cpu, const std::string& root = "/");

// What sched_setaffinity's errno means for a pinning request.
std::string describe_affinity_errno(int err);

// Pins the calling thread to `cpu` (which may lie outside the inherited
// mask, as isolcpus= CPUs always do), then verifies: sched_getaffinity
// holds exactly `cpu`, and after a yield sched_getcpu() returns it. A
// refusal names the errno and what it means.
absl::Status pin_current_thread(int cpu);
// Sets the calling thread's mask to `cpus` (e.g. restoring a saved one).
absl::Status set_thread_cpus(const std::vector<int>& cpus);

// Which CPU a run measures on, and what the reports say about it.
struct PinChoice {
  int cpu = -1;                  // -1: not pinned
  bool isolated = false;         // cpu is in the isolated list
  bool nohz_full = false;        // cpu is in the nohz_full list
  bool outside_inherited_mask = false;
  std::vector<std::string> warnings;
};

// The pinning decision, with the side effect passed in (`try_pin` pins the
// calling thread and verifies it; tests pass a fake):
//  - requested_cpu >= 0 (--cpu N): that CPU or an error saying why not;
//  - else an inherited mask of one CPU (taskset -c N) is kept as the user's
//    choice;
//  - else isolated CPUs are tried, nohz_full ones first, then ascending,
//    whether or not they are in the inherited mask (isolcpus= CPUs never
//    are); each refusal becomes a warning;
//  - else the run is not pinned.
// Warnings also say when the chosen CPU is not isolated (while others
// are) or isolated but not nohz_full.
absl::StatusOr<PinChoice> choose_pinned_cpu(int requested_cpu, const CpuIsolation& isolation,
                                            const std::vector<int>& allowed,
                                            const std::function<absl::Status(int cpu)>& try_pin);

}  // namespace llmk::bench
