// CPU pinning and the machine checks that decide whether timings can be
// trusted: isolated CPUs, the frequency governor, virtualisation.
#pragma once

#include <sched.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk::bench {

// Parses the kernel's CPU list format ("0-3,8,10-11"); empty text gives an
// empty list; malformed text is an error naming the offending part.
absl::StatusOr<std::vector<int>> parse_cpu_list(std::string_view text);

// CPUs the calling thread may run on (sched_getaffinity).
std::vector<int> allowed_cpus();
// /sys/devices/system/cpu/isolated, parsed; empty when absent.
std::vector<int> isolated_cpus();
// scaling_governor of one CPU, or "unknown" when there is no cpufreq.
std::string cpu_governor(int cpu);

// Pins the calling thread to `cpu` and reads the mask back to verify it.
absl::Status pin_current_thread(int cpu);
// Sets the calling thread's mask to `cpus` (e.g. restoring a saved one).
absl::Status set_thread_cpus(const std::vector<int>& cpus);

}  // namespace llmk::bench
