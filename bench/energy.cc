#include "energy.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace llmk::bench {
namespace {

bool read_text(const std::string& path, std::string* out) {
  std::ifstream in(path);
  return static_cast<bool>(std::getline(in, *out));
}

// /sys/class/powercap/intel-rapl:0 (AMD's driver uses the same name).
class PowercapMeter final : public EnergyMeter {
 public:
  explicit PowercapMeter(std::string dir, double range_j) : dir_(std::move(dir)), range_j_(range_j) {}
  std::optional<double> read_joules() override {
    std::string text;
    if (!read_text(dir_ + "/energy_uj", &text)) return std::nullopt;
    char* end = nullptr;
    const double uj = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) return std::nullopt;
    return uj * 1e-6;
  }
  double joules_between(double earlier, double later) const override {
    return later >= earlier ? later - earlier : later + range_j_ - earlier;
  }
  std::string source() const override { return "powercap " + dir_; }

 private:
  std::string dir_;
  double range_j_;
};

// perf's RAPL PMU: power/energy-pkg/, counting for a whole CPU package.
class PerfEnergyMeter final : public EnergyMeter {
 public:
  PerfEnergyMeter(int fd, double scale_j) : fd_(fd), scale_j_(scale_j) {}
  ~PerfEnergyMeter() override { close(fd_); }
  std::optional<double> read_joules() override {
    uint64_t raw = 0;
    if (::read(fd_, &raw, sizeof raw) != static_cast<ssize_t>(sizeof raw)) return std::nullopt;
    return static_cast<double>(raw) * scale_j_;
  }
  double joules_between(double earlier, double later) const override { return later - earlier; }
  std::string source() const override { return "perf power/energy-pkg/"; }

 private:
  int fd_;
  double scale_j_;
};

std::unique_ptr<EnergyMeter> open_powercap() {
  const std::string dir = "/sys/class/powercap/intel-rapl:0";
  std::string range;
  if (!read_text(dir + "/max_energy_range_uj", &range)) return nullptr;
  auto meter = std::make_unique<PowercapMeter>(dir, std::stod(range) * 1e-6);
  if (!meter->read_joules()) return nullptr;  // often root-only since 2020
  return meter;
}

std::unique_ptr<EnergyMeter> open_perf_power(int cpu) {
  const std::string dir = "/sys/bus/event_source/devices/power";
  std::string type_text, event_text, scale_text;
  if (!read_text(dir + "/type", &type_text) ||
      !read_text(dir + "/events/energy-pkg", &event_text) ||
      !read_text(dir + "/events/energy-pkg.scale", &scale_text)) {
    return nullptr;
  }
  const size_t eq = event_text.find("event=");
  if (eq == std::string::npos) return nullptr;
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = static_cast<uint32_t>(std::stoul(type_text));
  attr.config = std::stoull(event_text.substr(eq + 6), nullptr, 0);
  const long fd = syscall(SYS_perf_event_open, &attr, -1, cpu < 0 ? 0 : cpu, -1,
                          PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return nullptr;
  return std::make_unique<PerfEnergyMeter>(static_cast<int>(fd), std::stod(scale_text));
}

}  // namespace

std::unique_ptr<EnergyMeter> EnergyMeter::open(int cpu) {
  try {  // std::stod on odd sysfs text must not end the run
    if (auto m = open_powercap()) return m;
    return open_perf_power(cpu);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace llmk::bench
