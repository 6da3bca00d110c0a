#include "harness/energy.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace llmk::bench {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;

std::string join_root(const std::string& root, std::string_view path) {
  if (root.empty() || root == "/") return std::string(path);
  return root + std::string(path);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  return trim(line);
}

std::optional<uint64_t> parse_u64(const std::string& text, int base = 10) {
  const std::string t = trim(text);
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string errno_name(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case EBUSY: return "EBUSY";
    default: return absl::StrCat("errno ", err);
  }
}

// A counter read through one fd kept open for the whole run: the
// permission check happens once, and each read costs one system call.
// pread at offset 0 makes sysfs produce the current value again.
class PowercapMeter final : public EnergyMeter {
 public:
  PowercapMeter(std::string source, int fd, uint64_t wrap_modulus)
      : EnergyMeter(std::move(source), 1e-6, wrap_modulus), fd_(fd) {}
  ~PowercapMeter() override { close(fd_); }

 protected:
  std::optional<uint64_t> read_count() override {
    char buf[32];
    const ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return std::nullopt;
    return parse_u64(std::string(buf, static_cast<size_t>(n)));
  }

 private:
  int fd_;
};

// perf's RAPL PMU; the kernel folds the hardware counter's 32-bit wraps
// into a 64-bit count, so reads here never see a wrap.
class PerfEnergyMeter final : public EnergyMeter {
 public:
  PerfEnergyMeter(std::string source, int fd, double joules_per_count)
      : EnergyMeter(std::move(source), joules_per_count, 0), fd_(fd) {}
  ~PerfEnergyMeter() override { close(fd_); }

 protected:
  std::optional<uint64_t> read_count() override {
    uint64_t raw = 0;
    if (::read(fd_, &raw, sizeof raw) != static_cast<ssize_t>(sizeof raw)) return std::nullopt;
    return raw;
  }

 private:
  int fd_;
};

int real_perf_open(uint32_t type, uint64_t config, int cpu) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  const long fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

struct Topology {
  int package = 0;
  std::optional<int> die;
  bool known = false;
};

Topology cpu_topology(int cpu, const std::string& root) {
  Topology t;
  const std::string dir =
      join_root(root, absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/topology/"));
  if (auto p = read_line(dir + "physical_package_id"); p && parse_u64(*p)) {
    t.package = static_cast<int>(*parse_u64(*p));
    t.known = true;
  }
  if (auto d = read_line(dir + "die_id"); d && parse_u64(*d)) {
    t.die = static_cast<int>(*parse_u64(*d));
  }
  return t;
}

// Top-level RAPL zones ("intel-rapl:0", not the subzone "intel-rapl:0:0"),
// the MSR driver's first: other RAPL interfaces (MMIO, TPMI) can register a
// second zone for the same package.
std::vector<std::string> rapl_zones(const std::string& class_dir) {
  std::vector<std::string> zones;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(class_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t colon = name.find(':');
    if (colon == std::string::npos || name.find(':', colon + 1) != std::string::npos) continue;
    if (name.rfind("intel-rapl", 0) != 0 && name.rfind("amd-rapl", 0) != 0) continue;
    zones.push_back(name);
  }
  std::sort(zones.begin(), zones.end(), [](const std::string& a, const std::string& b) {
    const bool ma = a.rfind("intel-rapl:", 0) == 0, mb = b.rfind("intel-rapl:", 0) == 0;
    if (ma != mb) return ma;
    if (a.size() != b.size()) return a.size() < b.size();  // intel-rapl:2 before intel-rapl:10
    return a < b;
  });
  return zones;
}

std::unique_ptr<EnergyMeter> open_powercap(const Topology& topo, const std::string& root,
                                           std::string* why_not) {
  const std::string class_dir = join_root(root, "/sys/class/powercap");
  std::error_code ec;
  if (!std::filesystem::exists(class_dir, ec)) {
    *why_not = "powercap: /sys/class/powercap is absent (no powercap driver; VMs rarely "
               "expose RAPL)";
    return nullptr;
  }
  const std::vector<std::string> zones = rapl_zones(class_dir);
  if (zones.empty()) {
    *why_not = "powercap: no intel-rapl zone in /sys/class/powercap (driver intel_rapl_msr "
               "not loaded, or no RAPL on this CPU)";
    return nullptr;
  }
  const std::string want = absl::StrCat("package-", topo.package);
  const std::string want_die =
      topo.die ? absl::StrCat(want, "-die-", *topo.die) : std::string("-");
  std::vector<std::string> seen;
  for (const std::string& zone : zones) {
    const std::string dir = absl::StrCat(class_dir, "/", zone);
    const std::string name = read_line(dir + "/name").value_or("?");
    seen.push_back(absl::StrCat(zone, " (", name, ")"));
    if (name != want && name != want_die) continue;
    const std::string label = absl::StrCat("powercap ", zone, " (", name, ")");
    const std::optional<std::string> range_text = read_line(dir + "/max_energy_range_uj");
    const std::optional<uint64_t> range_uj = range_text ? parse_u64(*range_text) : std::nullopt;
    if (!range_uj || *range_uj == 0) {
      *why_not = absl::StrCat(label, ": max_energy_range_uj is missing or not a number, so a "
                                     "counter wrap could not be corrected");
      return nullptr;
    }
    const std::string energy_path = dir + "/energy_uj";
    const int fd = open(energy_path.c_str(), O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    char probe[32];
    if (fd >= 0 && pread(fd, probe, sizeof probe, 0) < 0) err = errno;
    if (err != 0) {
      if (fd >= 0) close(fd);
      struct stat st {};
      if ((err == EACCES || err == EPERM) && stat(energy_path.c_str(), &st) == 0) {
        *why_not = absl::StrCat(label, ": ",
                                describe_powercap_denied(energy_path, st.st_mode, st.st_uid,
                                                         geteuid()));
      } else {
        *why_not = absl::StrCat(label, ": cannot read energy_uj (", errno_name(err), ": ",
                                std::strerror(err), ")");
      }
      return nullptr;
    }
    // The file shows 0 … max_energy_range_uj, then starts again at 0.
    return std::make_unique<PowercapMeter>(label, fd, *range_uj + 1);
  }
  *why_not = absl::StrCat("powercap: no zone named ", want, topo.die ? " or " + want_die : "",
                          " (found: ", absl::StrJoin(seen, ", "), ")");
  return nullptr;
}

std::unique_ptr<EnergyMeter> open_perf_power(int cpu, const Topology& topo,
                                             const EnergySystem& system, std::string* why_not) {
  const std::string dir = join_root(system.root, "/sys/bus/event_source/devices/power");
  const std::optional<std::string> type_text = read_line(dir + "/type");
  if (!type_text) {
    *why_not = "perf: no 'power' PMU (/sys/bus/event_source/devices/power is absent: RAPL is "
               "not exposed)";
    return nullptr;
  }
  const std::optional<std::string> event_text = read_line(dir + "/events/energy-pkg");
  const std::optional<std::string> scale_text = read_line(dir + "/events/energy-pkg.scale");
  const std::optional<std::string> unit_text = read_line(dir + "/events/energy-pkg.unit");
  if (!event_text) {
    *why_not = "perf: the power PMU has no energy-pkg event";
    return nullptr;
  }
  const std::optional<uint64_t> type = parse_u64(*type_text);
  const std::optional<uint64_t> config = parse_perf_event_config(*event_text);
  const std::optional<double> scale = scale_text ? parse_double(*scale_text) : std::nullopt;
  if (!type || !config || !scale || *scale <= 0) {
    *why_not = absl::StrCat("perf power/energy-pkg/: unreadable description (type '",
                            type_text.value_or(""), "', event '", event_text.value_or(""),
                            "', scale '", scale_text.value_or(""), "')");
    return nullptr;
  }
  if (unit_text && *unit_text != "Joules") {
    *why_not = absl::StrCat("perf power/energy-pkg/: unit is '", *unit_text, "', not Joules");
    return nullptr;
  }
  const auto open_fn = system.perf_open ? system.perf_open : real_perf_open;
  const int fd = open_fn(static_cast<uint32_t>(*type), *config, cpu);
  if (fd < 0) {
    const int err = -fd;
    if (err == EACCES || err == EPERM) {
      std::optional<int> paranoid;
      if (auto p = read_line(join_root(system.root, "/proc/sys/kernel/perf_event_paranoid"))) {
        if (auto v = parse_double(*p)) paranoid = static_cast<int>(*v);
      }
      std::optional<uint64_t> caps;
      std::ifstream status(join_root(system.root, "/proc/self/status"));
      if (status) {
        std::stringstream all;
        all << status.rdbuf();
        caps = parse_effective_capabilities(all.str());
      }
      *why_not =
          absl::StrCat("perf power/energy-pkg/: ", describe_perf_denied(err, paranoid, caps));
    } else {
      *why_not = absl::StrCat("perf power/energy-pkg/: perf_event_open on CPU ", cpu, " failed (",
                              errno_name(err), ": ", std::strerror(err), ")");
    }
    return nullptr;
  }
  return std::make_unique<PerfEnergyMeter>(
      absl::StrCat("perf power/energy-pkg/ (package ", topo.package, ", CPU ", cpu, ")"), fd,
      *scale);
}

}  // namespace

EnergyAccumulator::EnergyAccumulator(double joules_per_count, uint64_t wrap_modulus,
                                     double max_gap_s)
    : joules_per_count_(joules_per_count), wrap_modulus_(wrap_modulus), max_gap_s_(max_gap_s) {}

void EnergyAccumulator::begin(uint64_t count, uint64_t now_ns) {
  started_ = true;
  first_ns_ = last_ns_ = now_ns;
  last_count_ = count;
  counts_ = 0;
  wraps_ = 0;
  problem_.clear();
}

void EnergyAccumulator::add(uint64_t count, uint64_t now_ns) {
  if (!started_ || !problem_.empty()) return;
  const double gap_s = static_cast<double>(now_ns - last_ns_) * 1e-9;
  if (wrap_modulus_ > 0 && count >= wrap_modulus_) {
    problem_ = absl::StrCat("reading ", count, " is beyond the counter's range ", wrap_modulus_);
    return;
  }
  if (gap_s > max_gap_s_) {
    problem_ = absl::StrFormat(
        "counter reads %.0f s apart: in more than %.0f s a package at %.0f W could pass the "
        "whole counter range, so a second wrap cannot be ruled out",
        gap_s, max_gap_s_, kMaxPackageWatts);
    return;
  }
  if (count >= last_count_) {
    counts_ += static_cast<double>(count - last_count_);
  } else if (wrap_modulus_ > 0) {
    counts_ += static_cast<double>(wrap_modulus_ - last_count_ + count);
    ++wraps_;
  } else {
    problem_ = absl::StrCat("counter went backwards (", last_count_, " then ", count, ")");
    return;
  }
  last_count_ = count;
  last_ns_ = now_ns;
}

bool EnergyAccumulator::due(uint64_t now_ns) const {
  return started_ && static_cast<double>(now_ns - last_ns_) * 1e-9 >= max_gap_s_ / 2;
}

EnergyInterval EnergyAccumulator::result() const {
  EnergyInterval out;
  out.seconds = static_cast<double>(last_ns_ - first_ns_) * 1e-9;
  out.wraps = wraps_;
  if (!started_) {
    out.problem = "no reading";
  } else if (!problem_.empty()) {
    out.problem = problem_;
  } else if (out.seconds < kMinEnergyIntervalS) {
    out.problem = absl::StrFormat(
        "measured %.1f ms, under the %.0f ms needed for RAPL's ~1 ms updates to stay below 4%%",
        out.seconds * 1e3, kMinEnergyIntervalS * 1e3);
  } else {
    out.joules = counts_ * joules_per_count_;
  }
  return out;
}

EnergyMeter::EnergyMeter(std::string source, double joules_per_count, uint64_t wrap_modulus)
    : source_(std::move(source)),
      acc_(joules_per_count, wrap_modulus,
           wrap_modulus > 0
               ? static_cast<double>(wrap_modulus) * joules_per_count / kMaxPackageWatts
               : std::numeric_limits<double>::infinity()) {}

bool EnergyMeter::begin(uint64_t now_ns) {
  const std::optional<uint64_t> c = read_count();
  failed_ = !c;
  if (c) acc_.begin(*c, now_ns);
  return c.has_value();
}

void EnergyMeter::poll(uint64_t now_ns) {
  if (failed_ || !acc_.due(now_ns)) return;
  if (const std::optional<uint64_t> c = read_count()) {
    acc_.add(*c, now_ns);
  } else {
    failed_ = true;
  }
}

EnergyInterval EnergyMeter::end(uint64_t now_ns) {
  if (!failed_) {
    if (const std::optional<uint64_t> c = read_count()) {
      acc_.add(*c, now_ns);
    } else {
      failed_ = true;
    }
  }
  if (failed_) {
    EnergyInterval out;
    out.problem = "reading the energy counter failed";
    return out;
  }
  return acc_.result();
}

std::optional<uint64_t> parse_effective_capabilities(const std::string& status_text) {
  std::istringstream in(status_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return parse_u64(line.substr(7), 16);
  }
  return std::nullopt;
}

std::string describe_powercap_denied(const std::string& file, mode_t mode, uid_t owner,
                                     uid_t euid) {
  return absl::StrFormat(
      "%s is mode %04o owned by uid %u, not readable by uid %u (energy_uj has been root-only "
      "since Linux 5.10, CVE-2020-8694); run as root or make it readable (chmod a+r, or a udev "
      "rule)",
      file, static_cast<unsigned>(mode & 07777), static_cast<unsigned>(owner),
      static_cast<unsigned>(euid));
}

std::string describe_perf_denied(int err, std::optional<int> paranoid,
                                 std::optional<uint64_t> caps) {
  const bool perfmon = caps && ((*caps >> kCapPerfmon) & 1u);
  const bool sys_admin = caps && ((*caps >> kCapSysAdmin) & 1u);
  const std::string level = paranoid ? absl::StrCat(*paranoid) : std::string("unreadable");
  std::string caps_text =
      !caps ? std::string("capabilities unknown")
            : perfmon || sys_admin
                  ? absl::StrCat("this process has ", perfmon ? "CAP_PERFMON" : "CAP_SYS_ADMIN")
                  : std::string("this process has neither");
  std::string text = absl::StrCat(
      errno_name(err), ": CPU-wide events need perf_event_paranoid <= 0 (it is ", level,
      ") or CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8); ", caps_text);
  if (perfmon || sys_admin || (paranoid && *paranoid <= 0)) {
    absl::StrAppend(&text, "; refused anyway, so a security module (SELinux, AppArmor, "
                           "lockdown) or a seccomp filter denies perf_event_open");
  }
  return text;
}

std::optional<uint64_t> parse_perf_event_config(const std::string& text) {
  // "event=0x02", possibly with more terms ("event=0x02,umask=0x0"): only
  // the event term is used, as the RAPL PMU defines no others.
  const std::string t = trim(text);
  if (t.rfind("event=", 0) != 0) return std::nullopt;
  std::string value = t.substr(6);
  value = value.substr(0, value.find(','));
  if (value.rfind("0x", 0) == 0 || value.rfind("0X", 0) == 0) return parse_u64(value.substr(2), 16);
  return parse_u64(value);
}

EnergyProbe open_package_energy(int cpu, const EnergySystem& system) {
  EnergyProbe probe;
  if (cpu < 0) cpu = 0;
  const Topology topo = cpu_topology(cpu, system.root);
  probe.package = topo.package;
  if (!topo.known) {
    probe.notes.push_back(absl::StrCat(
        "CPU ", cpu, "'s physical_package_id is unreadable: package 0 was assumed"));
  }
  std::string why_not;
  if ((probe.meter = open_powercap(topo, system.root, &why_not))) return probe;
  probe.unavailable.push_back(why_not);
  if ((probe.meter = open_perf_power(cpu, topo, system, &why_not))) return probe;
  probe.unavailable.push_back(why_not);
  return probe;
}

}  // namespace llmk::bench
