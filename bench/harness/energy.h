// Package energy of the CPU package the benchmark runs on, from RAPL:
//  1. powercap: /sys/class/powercap/intel-rapl:N whose `name` is
//     package-<physical_package_id of the CPU> (or package-P-die-D on
//     multi-die parts). AMD Zen's RAPL is registered by the same driver
//     under the same names, so one search serves both vendors.
//  2. perf: the `power` PMU's energy-pkg event, opened CPU-wide on the CPU
//     (the kernel counts it for that CPU's package).
// Neither exists in most VMs; an unprivileged process may see them and be
// refused. Either way the probe says, per method, exactly why it was not
// used (which file mode, perf_event_paranoid level or capability).
//
// Every path is read under `root` ("/" on a real system) so tests can use
// fake trees.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace llmk::bench {

// The highest power a CPU package is assumed to draw, for the wrap bound:
// above any single package's power limit today (server parts top out near
// 500 W).
inline constexpr double kMaxPackageWatts = 1000;
// Shortest interval reported: RAPL updates about once per ms, so 50 ms keeps
// that quantisation of the two end readings under 2 × 1/50 = 4%.
inline constexpr double kMinEnergyIntervalS = 0.05;

// Energy over one interval, or why there is none.
struct EnergyInterval {
  std::optional<double> joules;
  double seconds = 0;
  int wraps = 0;        // counter wraps seen (each at most one per read gap)
  std::string problem;  // non-empty when joules is nullopt
};

// Turns successive raw counter readings into joules. The counter counts up
// in units of joules_per_count and restarts from 0 after wrap_modulus − 1
// (0: it never wraps unseen). Between two readings at most one wrap can be
// recognised: a gap longer than max_gap_s could hide a second one at
// kMaxPackageWatts, so the interval then has no energy. Pure arithmetic;
// the meters feed it.
class EnergyAccumulator {
 public:
  EnergyAccumulator(double joules_per_count, uint64_t wrap_modulus, double max_gap_s);
  void begin(uint64_t count, uint64_t now_ns);
  void add(uint64_t count, uint64_t now_ns);
  // A reading should be taken now: half the allowed gap has passed.
  bool due(uint64_t now_ns) const;
  EnergyInterval result() const;
  double max_gap_s() const { return max_gap_s_; }

 private:
  double joules_per_count_;
  uint64_t wrap_modulus_;
  double max_gap_s_;
  uint64_t first_ns_ = 0, last_ns_ = 0, last_count_ = 0;
  double counts_ = 0;
  int wraps_ = 0;
  bool started_ = false;
  std::string problem_;
};

// One package's energy counter.
class EnergyMeter {
 public:
  EnergyMeter(std::string source, double joules_per_count, uint64_t wrap_modulus);
  virtual ~EnergyMeter() = default;
  // e.g. "powercap intel-rapl:0 (package-0)", "perf power/energy-pkg/ (package 0, CPU 3)".
  const std::string& source() const { return source_; }
  // The longest gap between two reads that cannot hide a second wrap
  // (infinity for a counter that does not wrap unseen).
  double max_read_gap_s() const { return acc_.max_gap_s(); }

  // An interval: begin, poll as often as convenient (it reads only when a
  // read is due, so the gap bound holds while polls come at least every
  // max_read_gap_s() / 2), end.
  bool begin(uint64_t now_ns);
  void poll(uint64_t now_ns);
  EnergyInterval end(uint64_t now_ns);

 protected:
  // The raw count, or nullopt when the read fails.
  virtual std::optional<uint64_t> read_count() = 0;

 private:
  std::string source_;
  EnergyAccumulator acc_;
  bool failed_ = false;
};

// What open_package_energy reads and calls; tests replace both.
struct EnergySystem {
  std::string root = "/";
  // perf_event_open of a CPU-wide counting event: an fd, or −errno.
  // Empty: the real system call.
  std::function<int(uint32_t type, uint64_t config, int cpu)> perf_open;
};

struct EnergyProbe {
  std::unique_ptr<EnergyMeter> meter;  // null: no method worked
  std::vector<std::string> unavailable;  // why each method tried was not used
  std::vector<std::string> notes;        // doubts about what is measured
  int package = -1;                      // the package measured (or looked for)
};

// Opens the package energy counter for `cpu`'s package: powercap, then perf.
EnergyProbe open_package_energy(int cpu, const EnergySystem& system = {});

// Pure helpers behind the messages (tested directly).
// Effective capability mask from /proc/<pid>/status text ("CapEff:\t...").
std::optional<uint64_t> parse_effective_capabilities(const std::string& status_text);
// Why an unreadable energy_uj is unreadable.
std::string describe_powercap_denied(const std::string& file, mode_t mode, uid_t owner,
                                     uid_t euid);
// Why a refused perf_event_open of the power PMU was refused. paranoid:
// perf_event_paranoid (nullopt: unreadable); caps: the CapEff mask.
std::string describe_perf_denied(int err, std::optional<int> paranoid,
                                 std::optional<uint64_t> caps);
// Parses "event=0x02" (the PMU's events/energy-pkg file) into a config.
std::optional<uint64_t> parse_perf_event_config(const std::string& text);

}  // namespace llmk::bench
