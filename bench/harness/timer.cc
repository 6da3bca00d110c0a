#include "harness/timer.h"

#include <time.h>

#include <cmath>
#include <fstream>
#include <string_view>

// LLMK_TIMER_PORTABLE builds the fallback on any machine (to check it).
#if defined(LLMK_TIMER_PORTABLE)
#elif defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define LLMK_TIMER_X86 1
#elif defined(__aarch64__)
#define LLMK_TIMER_AARCH64 1
#endif

namespace llmk::bench {
namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return {};
  while (!line.empty() && (line.back() == ' ' || line.back() == '\n' || line.back() == '\0')) {
    line.pop_back();
  }
  return line;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

std::string join_root(const std::string& root, std::string_view path) {
  if (root.empty() || root == "/") return std::string(path);
  return root + std::string(path);
}

#if defined(LLMK_TIMER_AARCH64)
// The isb keeps the read from being hoisted above earlier instructions (the
// counter read is not ordered by itself), as the TSC's rdtscp + lfence do.
inline uint64_t read_cntvct() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
  return v;
}
inline uint64_t read_cntfrq() {
  uint64_t v;
  asm volatile("mrs %0, cntfrq_el0" : "=r"(v));
  return v;
}
#endif

// Ticks of `read` per ns of CLOCK_MONOTONIC over a 20 ms spin. Each counter
// read is bracketed by two clock reads and dated at their midpoint; the
// narrowest of three brackets is kept, so a preemption inside one costs
// nothing. 20 ms makes a 1 µs bracket error 5e-5 of the span.
template <class Read>
double measure_ticks_per_ns(Read read) {
  auto paired = [&](uint64_t* ticks) {
    double best_width = 1e300, mid = 0;
    for (int i = 0; i < 3; ++i) {
      const uint64_t a = monotonic_ns();
      const uint64_t t = read();
      const uint64_t b = monotonic_ns();
      if (static_cast<double>(b - a) < best_width) {
        best_width = static_cast<double>(b - a);
        mid = (static_cast<double>(a) + static_cast<double>(b)) / 2.0;
        *ticks = t;
      }
    }
    return mid;
  };
  uint64_t t0 = 0, t1 = 0;
  const double ns0 = paired(&t0);
  while (static_cast<double>(monotonic_ns()) - ns0 < 20e6) {
  }
  const double ns1 = paired(&t1);
  if (t1 <= t0 || ns1 <= ns0) return 0;
  return static_cast<double>(t1 - t0) / (ns1 - ns0);
}

// Consecutive reads never decrease (a counter that is emulated per CPU
// and not synchronised can step back after a migration).
template <class Read>
bool reads_are_monotonic(Read read, int reads) {
  uint64_t prev = read();
  for (int i = 0; i < reads; ++i) {
    const uint64_t t = read();
    if (t < prev) return false;
    prev = t;
  }
  return true;
}

}  // namespace

bool counter_rate_agrees(double nominal_hz, double measured_hz, double tolerance) {
  if (!(nominal_hz > 0) || !(measured_hz > 0)) return false;
  return std::fabs(measured_hz / nominal_hz - 1.0) <= tolerance;
}

bool cpu_has_invariant_tsc() {
#if defined(LLMK_TIMER_X86)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
  __cpuid(0x80000007u, eax, ebx, ecx, edx);
  return (edx >> 8) & 1u;  // "TscInvariant" on both Intel and AMD
#else
  return false;
#endif
}

HypervisorCheck detect_hypervisor(const std::string& root) {
#if defined(LLMK_TIMER_X86)
  if (root.empty() || root == "/") {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
      if ((ecx >> 31) & 1u) return {HypervisorState::kYes, "cpuid hypervisor bit"};
      return {HypervisorState::kNo, "cpuid hypervisor bit clear"};
    }
  }
#endif
  if (const std::string type = read_first_line(join_root(root, "/sys/hypervisor/type"));
      !type.empty()) {
    return {HypervisorState::kYes, "/sys/hypervisor/type: " + type};
  }
  if (file_exists(join_root(root, "/sys/firmware/devicetree/base/hypervisor/compatible"))) {
    return {HypervisorState::kYes, "device-tree hypervisor node"};
  }
  // Vendors and products that only ever name virtual machines (a cloud
  // vendor alone is not enough: its bare-metal instances carry it too).
  const std::string vendor = read_first_line(join_root(root, "/sys/class/dmi/id/sys_vendor"));
  const std::string product =
      read_first_line(join_root(root, "/sys/class/dmi/id/product_name"));
  for (const char* v : {"QEMU", "Xen", "VMware, Inc.", "innotek GmbH", "Parallels", "Bochs"}) {
    if (vendor == v) return {HypervisorState::kYes, "DMI vendor " + vendor};
  }
  for (const char* p : {"KVM", "VirtualBox", "VMware", "HVM domU", "Virtual Machine"}) {
    if (product.find(p) != std::string::npos) {
      return {HypervisorState::kYes, "DMI product " + product};
    }
  }
  return {HypervisorState::kUnknown, "no cpuid bit on this architecture, no hypervisor in sysfs"};
}

bool cpu_reports_hypervisor() { return detect_hypervisor().state == HypervisorState::kYes; }

#if defined(LLMK_TIMER_X86)
uint64_t read_tsc() {
  unsigned aux = 0;
  const uint64_t t = __rdtscp(&aux);  // waits for earlier instructions to finish
  _mm_lfence();                       // keeps later ones from starting before the read
  return t;
}
#endif

uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }
uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
uint64_t process_cpu_ns() { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

Timer::Timer() {
#if defined(LLMK_TIMER_X86)
  if (!cpu_has_invariant_tsc()) {
    fallback_reason_ = "no invariant TSC";
    return;
  }
  // The TSC's rate is fixed: one calibration serves the whole run.
  const double ghz = measure_ticks_per_ns(read_tsc);
  if (ghz > 0.05) {
    source_ = TimerSource::kTsc;
    ticks_per_ns_ = ghz;
  } else {
    fallback_reason_ = "TSC calibration gave an implausible rate";
  }
#elif defined(LLMK_TIMER_AARCH64)
  // CNTFRQ_EL0 is written by firmware and is sometimes wrong; the count
  // itself is trusted only if CLOCK_MONOTONIC sees it tick at that rate.
  // Tolerance 0.5%: NTP slews CLOCK_MONOTONIC by at most 0.05% and the
  // bracketing adds under 0.01%, so a correct CNTFRQ always passes, while a
  // wrong firmware value (another board's crystal rate, e.g. 19.2 MHz where
  // the counter runs at 54 MHz) is off by far more.
  constexpr double kRateTolerance = 0.005;
  const double nominal_hz = static_cast<double>(read_cntfrq());
  if (!(nominal_hz > 0)) {
    fallback_reason_ = "CNTFRQ_EL0 reads 0";
    return;
  }
  if (!reads_are_monotonic(read_cntvct, 10000)) {
    fallback_reason_ = "CNTVCT_EL0 went backwards";
    return;
  }
  const double measured_hz = measure_ticks_per_ns(read_cntvct) * 1e9;
  if (!counter_rate_agrees(nominal_hz, measured_hz, kRateTolerance)) {
    fallback_reason_ = "CNTVCT_EL0 ticks at " + std::to_string(measured_hz) +
                       " Hz, CNTFRQ_EL0 says " + std::to_string(nominal_hz) + " Hz";
    return;
  }
  source_ = TimerSource::kCntvct;
  ticks_per_ns_ = nominal_hz * 1e-9;
#else
  fallback_reason_ = "no user-readable counter known on this architecture";
#endif
}

const char* Timer::name() const {
  switch (source_) {
    case TimerSource::kTsc: return "tsc";
    case TimerSource::kCntvct: return "cntvct";
    case TimerSource::kClockMonotonic: break;
  }
  return "clock_monotonic";
}

const Timer& Timer::instance() {
  static const Timer timer;
  return timer;
}

uint64_t Timer::now() const {
#if defined(LLMK_TIMER_X86)
  if (source_ == TimerSource::kTsc) return read_tsc();
#elif defined(LLMK_TIMER_AARCH64)
  if (source_ == TimerSource::kCntvct) return read_cntvct();
#endif
  return monotonic_ns();
}

double Timer::ticks_to_ns(uint64_t ticks) const {
  return source_ == TimerSource::kClockMonotonic ? static_cast<double>(ticks)
                                                 : static_cast<double>(ticks) / ticks_per_ns_;
}

}  // namespace llmk::bench
