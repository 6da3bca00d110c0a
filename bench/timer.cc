#include "timer.h"

#include <cpuid.h>
#include <time.h>
#include <x86intrin.h>

namespace llmk::bench {
namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

bool cpu_has_invariant_tsc() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
  __cpuid(0x80000007u, eax, ebx, ecx, edx);
  return (edx >> 8) & 1u;  // "TscInvariant" on both Intel and AMD
}

bool cpu_reports_hypervisor() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx >> 31) & 1u;
}

uint64_t read_tsc() {
  unsigned aux = 0;
  const uint64_t t = __rdtscp(&aux);  // waits for earlier instructions to finish
  _mm_lfence();                       // keeps later ones from starting before the read
  return t;
}

uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }
uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
uint64_t process_cpu_ns() { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

Timer::Timer() {
  if (!cpu_has_invariant_tsc()) return;
  // Each TSC read is bracketed by two clock reads and dated at their
  // midpoint, so a preemption costs at most the bracket's width, which is
  // tiny against the 20 ms span. The TSC's rate is fixed: one calibration
  // serves the whole run.
  auto paired = [](uint64_t* tsc) {
    const uint64_t a = monotonic_ns();
    *tsc = read_tsc();
    const uint64_t b = monotonic_ns();
    return (static_cast<double>(a) + static_cast<double>(b)) / 2.0;
  };
  uint64_t t0 = 0, t1 = 0;
  const double ns0 = paired(&t0);
  while (monotonic_ns() - static_cast<uint64_t>(ns0) < 20000000ull) {
  }
  const double ns1 = paired(&t1);
  const double ghz = static_cast<double>(t1 - t0) / (ns1 - ns0);
  if (ghz > 0.05) {
    use_tsc_ = true;
    tsc_ghz_ = ghz;
  }
}

const Timer& Timer::instance() {
  static const Timer timer;
  return timer;
}

uint64_t Timer::now() const { return use_tsc_ ? read_tsc() : monotonic_ns(); }

double Timer::ticks_to_ns(uint64_t ticks) const {
  return use_tsc_ ? static_cast<double>(ticks) / tsc_ghz_ : static_cast<double>(ticks);
}

}  // namespace llmk::bench
