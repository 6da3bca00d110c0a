// Package energy from RAPL: the powercap sysfs counter, else the perf
// `power/energy-pkg/` event. Neither exists in most VMs: then open() gives
// nullptr and the reports say n/a.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace llmk::bench {

class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  // Cumulative joules since an arbitrary origin (wrap-around handled by
  // joules_between); nullopt when a read fails.
  virtual std::optional<double> read_joules() = 0;
  // later − earlier, allowing one counter wrap.
  virtual double joules_between(double earlier, double later) const = 0;
  virtual std::string source() const = 0;

  // cpu: the CPU whose package to measure with perf (−1: CPU 0).
  static std::unique_ptr<EnergyMeter> open(int cpu);
};

}  // namespace llmk::bench
