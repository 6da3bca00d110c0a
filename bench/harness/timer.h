// Wall-clock timing for samples, from the cheapest trustworthy counter:
//  - x86: the TSC (rdtscp) when cpuid says it is invariant, calibrated once
//    against CLOCK_MONOTONIC;
//  - aarch64: the generic timer's virtual count (CNTVCT_EL0) at the rate
//    CNTFRQ_EL0 states, accepted only when a check against CLOCK_MONOTONIC
//    agrees with that rate and the count never goes backwards;
//  - everywhere else, or when those checks fail: CLOCK_MONOTONIC.
// CPU time comes from the per-thread or per-process clocks.
#pragma once

#include <cstdint>
#include <string>

namespace llmk::bench {

enum class TimerSource { kTsc, kCntvct, kClockMonotonic };

class Timer {
 public:
  // Detects and calibrates on first use (about 20 ms).
  static const Timer& instance();

  TimerSource source() const { return source_; }
  bool uses_tsc() const { return source_ == TimerSource::kTsc; }
  // TSC ticks per ns; 0 without an invariant TSC (cycle targets need it).
  double tsc_ghz() const { return uses_tsc() ? ticks_per_ns_ : 0; }
  // Ticks of now() per ns for any source (1 for clock_monotonic).
  double ticks_per_ns() const { return ticks_per_ns_; }
  // "tsc", "cntvct" or "clock_monotonic".
  const char* name() const;
  // Why a faster counter was not used (empty when it was, or none exists).
  const std::string& fallback_reason() const { return fallback_reason_; }

  // Ticks of the chosen clock; only differences are meaningful.
  uint64_t now() const;
  double ticks_to_ns(uint64_t ticks) const;

 private:
  Timer();
  TimerSource source_ = TimerSource::kClockMonotonic;
  double ticks_per_ns_ = 1;
  std::string fallback_reason_;
};

// Whether a counter's measured rate is close enough to its stated one:
// |measured / nominal − 1| ≤ tolerance. False for non-positive rates.
bool counter_rate_agrees(double nominal_hz, double measured_hz, double tolerance);

// The TSC is invariant (x86 cpuid leaf 0x80000007, EDX bit 8); false on
// every other architecture.
bool cpu_has_invariant_tsc();

// Whether this process runs in a virtual machine, and how that was decided.
enum class HypervisorState { kNo, kYes, kUnknown };
struct HypervisorCheck {
  HypervisorState state = HypervisorState::kUnknown;
  std::string evidence;  // e.g. "cpuid hypervisor bit", "/sys/hypervisor/type: xen"
};
// x86: cpuid leaf 1, ECX bit 31, set by hypervisors for their guests. Other
// architectures have no such bit: /sys/hypervisor/type (Xen), a device-tree
// "hypervisor" node, or a DMI vendor/product naming a hypervisor say yes;
// finding none of them leaves it unknown, since their absence proves
// nothing. `root` prefixes the sysfs paths (tests use fake trees).
HypervisorCheck detect_hypervisor(const std::string& root = "/");
// detect_hypervisor().state == kYes.
bool cpu_reports_hypervisor();

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_tsc();  // rdtscp, fenced so later work cannot start early
#endif
uint64_t monotonic_ns();
uint64_t thread_cpu_ns();
uint64_t process_cpu_ns();

}  // namespace llmk::bench
