// Wall-clock timing for samples: the TSC (rdtscp) when cpuid says it is
// invariant, calibrated once against CLOCK_MONOTONIC; CLOCK_MONOTONIC
// otherwise. CPU time comes from the per-thread or per-process clocks.
#pragma once

#include <cstdint>

namespace llmk::bench {

class Timer {
 public:
  // Detects and calibrates on first use (about 20 ms).
  static const Timer& instance();

  bool uses_tsc() const { return use_tsc_; }
  double tsc_ghz() const { return tsc_ghz_; }  // 0 without an invariant TSC
  const char* name() const { return use_tsc_ ? "tsc" : "clock_monotonic"; }

  // Ticks of the chosen clock; only differences are meaningful.
  uint64_t now() const;
  double ticks_to_ns(uint64_t ticks) const;

 private:
  Timer();
  bool use_tsc_ = false;
  double tsc_ghz_ = 0;
};

bool cpu_has_invariant_tsc();
// cpuid leaf 1, ECX bit 31: set by hypervisors for their guests.
bool cpu_reports_hypervisor();
uint64_t read_tsc();  // rdtscp, fenced so later work cannot start early
uint64_t monotonic_ns();
uint64_t thread_cpu_ns();
uint64_t process_cpu_ns();

}  // namespace llmk::bench
