// The harness's view of the machine: the pinning decision on fake sysfs
// trees (isolated CPUs outside the inherited mask, refusals, nohz_full),
// package energy from fake powercap and perf trees (counter wrap, several
// packages, missing permissions), the timer against CLOCK_MONOTONIC, and
// the report fields these produce.
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness/affinity.h"
#include "harness/energy.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "report/report.h"
#include "test_util.h"
#include "harness/timer.h"

namespace llmk::bench {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A directory tree standing in for "/", removed afterwards.
class FakeRoot {
 public:
  FakeRoot() {
    char tmpl[] = "/tmp/llmk-platform-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec);
  }
  ~FakeRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  // Writes `text` at root-relative `rel` ("/sys/..."), creating folders.
  void write(const std::string& rel, const std::string& text) const {
    const fs::path p = path_ + rel;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::trunc);
    out << text;
    REQUIRE(out.good());
  }

 private:
  std::string path_;
};

constexpr uint64_t kMs = 1000000;  // ns

// ---------------------------------------------------------------- pinning

TEST_CASE("CPU lists: the kernel's format both ways, and nohz_full's '(null)'") {
  CHECK(*parse_cpu_list("0-3,8,10-11\n") == std::vector<int>{0, 1, 2, 3, 8, 10, 11});
  CHECK(format_cpu_list(std::vector<int>{11, 0, 1, 2, 3, 8, 10, 2}) == "0-3,8,10-11");
  CHECK(format_cpu_list(std::vector<int>{}).empty());
  CHECK(parse_nohz_full("(null)\n")->empty());  // CONFIG_NO_HZ_FULL without nohz_full=
  CHECK(parse_nohz_full("\n")->empty());
  CHECK(*parse_nohz_full("2-3,5\n") == std::vector<int>{2, 3, 5});
  const auto bad = parse_nohz_full("2-x");
  REQUIRE_FALSE(bad.ok());
  CHECK(has(std::string(bad.status().message()), "nohz_full"));
}

TEST_CASE("isolation is read from a fake sysfs tree") {
  FakeRoot root;
  SUBCASE("both lists") {
    root.write("/sys/devices/system/cpu/isolated", "2-3\n");
    root.write("/sys/devices/system/cpu/nohz_full", "3\n");
    const CpuIsolation iso = read_cpu_isolation(root.path());
    CHECK(iso.isolated == std::vector<int>{2, 3});
    CHECK(iso.nohz_full == std::vector<int>{3});
    CHECK(iso.problems.empty());
    CHECK(isolated_cpus(root.path()) == std::vector<int>{2, 3});
  }
  SUBCASE("files absent: the kernel lacks the feature, not a problem") {
    const CpuIsolation iso = read_cpu_isolation(root.path());
    CHECK(iso.isolated.empty());
    CHECK(iso.nohz_full.empty());
    CHECK(iso.problems.empty());
  }
  SUBCASE("a malformed file is reported with its path") {
    root.write("/sys/devices/system/cpu/isolated", "1-0\n");
    root.write("/sys/devices/system/cpu/nohz_full", "(null)\n");
    const CpuIsolation iso = read_cpu_isolation(root.path());
    REQUIRE(iso.problems.size() == 1);
    CHECK(has(iso.problems[0], "/sys/devices/system/cpu/isolated"));
    CHECK(iso.nohz_full.empty());
  }
  SUBCASE("governor") {
    root.write("/sys/devices/system/cpu/cpu3/cpufreq/scaling_governor", "performance\n");
    CHECK(cpu_governor(3, root.path()) == "performance");
    CHECK(cpu_governor(4, root.path()) == "unknown");
  }
}

// A try_pin that records the CPUs tried and refuses the listed ones the way
// pin_current_thread does.
struct FakePinner {
  std::vector<int> refuse;
  std::vector<int> tried;
  absl::Status operator()(int cpu) {
    tried.push_back(cpu);
    for (int r : refuse) {
      if (r == cpu) {
        return absl::InvalidArgumentError(
            absl::StrCat("--cpu ", cpu, ": sched_setaffinity onto CPUs ", cpu, " refused (",
                         describe_affinity_errno(EINVAL), ")"));
      }
    }
    return absl::OkStatus();
  }
};

bool any_has(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines) {
    if (has(l, part)) return true;
  }
  return false;
}

TEST_CASE("an isolated CPU is chosen although it is outside the inherited mask") {
  CpuIsolation iso;
  iso.isolated = {2, 3};
  iso.nohz_full = {3};
  const std::vector<int> allowed = {0, 1};  // isolcpus= CPUs are never in the default mask
  FakePinner pinner;
  auto choice = choose_pinned_cpu(-1, iso, allowed, std::ref(pinner));
  REQUIRE(choice.ok());
  CHECK(choice->cpu == 3);  // the tickless one first
  CHECK(choice->isolated);
  CHECK(choice->nohz_full);
  CHECK(choice->outside_inherited_mask);
  CHECK(pinner.tried == std::vector<int>{3});
  CHECK(choice->warnings.empty());
}

TEST_CASE("a refused isolated CPU is reported with its errno, and the next one is taken") {
  CpuIsolation iso;
  iso.isolated = {2, 3};
  iso.nohz_full = {3};
  FakePinner pinner{{3}, {}};
  auto choice = choose_pinned_cpu(-1, iso, {0, 1}, std::ref(pinner));
  REQUIRE(choice.ok());
  CHECK(choice->cpu == 2);
  CHECK(pinner.tried == std::vector<int>{3, 2});
  CHECK(choice->isolated);
  CHECK_FALSE(choice->nohz_full);
  CHECK(any_has(choice->warnings, "isolated CPU 3 not used"));
  CHECK(any_has(choice->warnings, "EINVAL"));
  CHECK(any_has(choice->warnings, "cpuset"));
  CHECK(any_has(choice->warnings, "CPU 2 is isolated but not nohz_full (nohz_full: 3)"));
}

TEST_CASE("every isolated CPU refused: not pinned, saying so") {
  CpuIsolation iso;
  iso.isolated = {2, 3};
  FakePinner pinner{{2, 3}, {}};
  auto choice = choose_pinned_cpu(-1, iso, {0, 1}, std::ref(pinner));
  REQUIRE(choice.ok());
  CHECK(choice->cpu == -1);
  CHECK(pinner.tried == std::vector<int>{2, 3});
  CHECK(any_has(choice->warnings, "not pinned"));
  CHECK(any_has(choice->warnings, "isolated CPU 2 not used"));
}

TEST_CASE("--cpu N: pinned there, with a warning when other CPUs are isolated") {
  CpuIsolation iso;
  iso.isolated = {2, 3};
  FakePinner pinner;
  auto choice = choose_pinned_cpu(1, iso, {0, 1}, std::ref(pinner));
  REQUIRE(choice.ok());
  CHECK(choice->cpu == 1);
  CHECK_FALSE(choice->isolated);
  CHECK_FALSE(choice->outside_inherited_mask);
  CHECK(pinner.tried == std::vector<int>{1});
  CHECK(any_has(choice->warnings, "CPU 1 is not isolated (isolated: 2-3)"));

  FakePinner refusing{{7}, {}};
  auto refused = choose_pinned_cpu(7, iso, {0, 1}, std::ref(refusing));
  REQUIRE_FALSE(refused.ok());
  CHECK(has(std::string(refused.status().message()), "--cpu 7"));
  CHECK(has(std::string(refused.status().message()), "EINVAL"));
}

TEST_CASE("a one-CPU inherited mask (taskset -c N) is kept; no isolation is warned about") {
  CpuIsolation iso;
  iso.isolated = {2};
  FakePinner pinner;
  auto choice = choose_pinned_cpu(-1, iso, {5}, std::ref(pinner));
  REQUIRE(choice.ok());
  CHECK(choice->cpu == 5);
  CHECK(pinner.tried.empty());
  CHECK(any_has(choice->warnings, "CPU 5 is not isolated"));

  CpuIsolation none;
  FakePinner p2;
  auto unpinned = choose_pinned_cpu(-1, none, {0, 1}, std::ref(p2));
  REQUIRE(unpinned.ok());
  CHECK(unpinned->cpu == -1);
  CHECK(p2.tried.empty());
  CHECK(any_has(unpinned->warnings, "no isolated CPU"));
  CHECK(any_has(unpinned->warnings, "not pinned"));
}

TEST_CASE("real pinning is verified; a CPU that does not exist is refused with EINVAL") {
  const std::vector<int> saved = allowed_cpus();
  REQUIRE_FALSE(saved.empty());
  const int cpu = saved.back();
  REQUIRE(pin_current_thread(cpu).ok());
  CHECK(allowed_cpus() == std::vector<int>{cpu});
  CHECK(sched_getcpu() == cpu);
  const absl::Status refused = pin_current_thread(CPU_SETSIZE - 1);  // no machine has it online
  CHECK_FALSE(refused.ok());
  CHECK(has(std::string(refused.message()), "EINVAL"));
  CHECK(allowed_cpus() == std::vector<int>{cpu});  // a refusal leaves the mask alone
  REQUIRE(set_thread_cpus(saved).ok());
}

// ---------------------------------------------------------------- energy

TEST_CASE("energy accumulator: one wrap per read gap, the gap bound, short intervals") {
  // Counter in µJ restarting after 999'999 µJ: the gap bound is 1 J / 1000 W = 1 ms.
  EnergyAccumulator acc(1e-6, 1000000, 1e-3);
  acc.begin(999000, 0);
  CHECK_FALSE(acc.due(400000));  // 0.4 ms: not yet half the bound
  CHECK(acc.due(500000));
  for (uint64_t i = 1; i <= 120; ++i) acc.add((999000 + 20000 * i) % 1000000, i * 500000);
  EnergyInterval e = acc.result();
  REQUIRE(e.joules.has_value());
  CHECK(*e.joules == doctest::Approx(120 * 0.02));  // 2.4 J across three wraps, each seen
  CHECK(e.wraps == 3);
  CHECK(e.seconds == doctest::Approx(0.06));

  acc.begin(1000, 0);
  acc.add(2000, 2 * kMs);  // 2 ms gap > 1 ms: a second wrap could hide in it
  e = acc.result();
  CHECK_FALSE(e.joules.has_value());
  CHECK(has(e.problem, "second wrap"));

  acc.begin(1000, 0);
  acc.add(5000, kMs / 2);
  e = acc.result();
  CHECK_FALSE(e.joules.has_value());  // 0.5 ms is too short to report
  CHECK(has(e.problem, "50 ms"));

  acc.begin(1000, 0);
  acc.add(1000000, kMs / 2);  // beyond the range
  CHECK(has(acc.result().problem, "beyond"));

  EnergyAccumulator no_wrap(0.5, 0, std::numeric_limits<double>::infinity());
  no_wrap.begin(100, 0);
  CHECK_FALSE(no_wrap.due(3600 * 1000 * kMs));
  no_wrap.add(50, 100 * kMs);
  CHECK(has(no_wrap.result().problem, "backwards"));
}

// A powercap tree like a two-socket machine's, CPU 2 on package 1.
void write_two_packages(const FakeRoot& root) {
  const std::string pc = "/sys/class/powercap/";
  for (int p = 0; p < 2; ++p) {
    const std::string zone = pc + "intel-rapl:" + std::to_string(p);
    root.write(zone + "/name", "package-" + std::to_string(p) + "\n");
    root.write(zone + "/max_energy_range_uj", "262143328850\n");
    root.write(zone + "/energy_uj", "1000\n");
    root.write(pc + "intel-rapl:" + std::to_string(p) + ":0/name", "core\n");
  }
  root.write("/sys/class/powercap/intel-rapl/enabled", "1\n");
  root.write("/sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
  root.write("/sys/devices/system/cpu/cpu2/topology/physical_package_id", "1\n");
}

TEST_CASE("powercap: the zone of the CPU's package, wrap corrected") {
  FakeRoot root;
  write_two_packages(root);
  EnergySystem sys;
  sys.root = root.path();
  EnergyProbe probe = open_package_energy(2, sys);
  REQUIRE(probe.meter);
  CHECK(probe.package == 1);
  CHECK(probe.meter->source() == "powercap intel-rapl:1 (package-1)");
  // 262143328850 µJ at 1000 W: 262 s between reads at most.
  CHECK(probe.meter->max_read_gap_s() == doctest::Approx(262.143328851));

  const std::string energy = "/sys/class/powercap/intel-rapl:1/energy_uj";
  root.write(energy, "262143000000\n");
  REQUIRE(probe.meter->begin(0));
  root.write("/sys/class/powercap/intel-rapl:0/energy_uj", "999999\n");  // the other package
  root.write(energy, "500000\n");  // wrapped past 262143328850
  const EnergyInterval e = probe.meter->end(200 * kMs);
  REQUIRE(e.joules.has_value());
  // 262143328851 − 262143000000 + 500000 µJ
  CHECK(*e.joules == doctest::Approx(0.828851).epsilon(1e-9));
  CHECK(e.wraps == 1);

  EnergyProbe p0 = open_package_energy(0, sys);
  REQUIRE(p0.meter);
  CHECK(p0.meter->source() == "powercap intel-rapl:0 (package-0)");
}

TEST_CASE("powercap: polls keep a long interval inside the gap bound") {
  FakeRoot root;
  const std::string zone = "/sys/class/powercap/intel-rapl:0";
  root.write(zone + "/name", "package-0\n");
  root.write(zone + "/max_energy_range_uj", "65532610987\n");  // an AMD Zen range: 65.5 s at 1 kW
  root.write(zone + "/energy_uj", "0\n");
  root.write("/sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
  EnergySystem sys;
  sys.root = root.path();
  EnergyProbe probe = open_package_energy(0, sys);
  REQUIRE(probe.meter);
  REQUIRE(probe.meter->begin(0));
  // 300 s at 250 W in 10 s steps: 75 kJ, so the counter wraps once. The
  // file advances every step; the meter reads it only when a read is due
  // (every 40 s here), and no 40 s holds more than the range.
  uint64_t uj = 0;
  for (int s = 10; s <= 300; s += 10) {
    uj = (uj + 2500000000ull) % 65532610988ull;
    root.write(zone + "/energy_uj", std::to_string(uj) + "\n");
    probe.meter->poll(static_cast<uint64_t>(s) * 1000 * kMs);
  }
  const EnergyInterval e = probe.meter->end(300ull * 1000 * kMs);
  REQUIRE(e.joules.has_value());
  CHECK(*e.joules == doctest::Approx(75000.0));
  CHECK(e.wraps == 1);
}

TEST_CASE("powercap: multi-die zones, no matching zone, no powercap at all") {
  FakeRoot root;
  root.write("/sys/class/powercap/intel-rapl:0/name", "package-0-die-0\n");
  root.write("/sys/class/powercap/intel-rapl:1/name", "package-0-die-1\n");
  for (int z = 0; z < 2; ++z) {
    root.write("/sys/class/powercap/intel-rapl:" + std::to_string(z) + "/max_energy_range_uj",
               "262143328850\n");
    root.write("/sys/class/powercap/intel-rapl:" + std::to_string(z) + "/energy_uj", "5\n");
  }
  root.write("/sys/devices/system/cpu/cpu4/topology/physical_package_id", "0\n");
  root.write("/sys/devices/system/cpu/cpu4/topology/die_id", "1\n");
  root.write("/sys/devices/system/cpu/cpu9/topology/physical_package_id", "3\n");
  EnergySystem sys;
  sys.root = root.path();
  EnergyProbe die = open_package_energy(4, sys);
  REQUIRE(die.meter);
  CHECK(die.meter->source() == "powercap intel-rapl:1 (package-0-die-1)");

  EnergyProbe none = open_package_energy(9, sys);
  CHECK_FALSE(none.meter);
  REQUIRE(none.unavailable.size() == 2);  // powercap, then perf
  CHECK(has(none.unavailable[0], "no zone named package-3"));
  CHECK(has(none.unavailable[0], "intel-rapl:0 (package-0-die-0)"));
  CHECK(has(none.unavailable[1], "no 'power' PMU"));

  FakeRoot empty;
  sys.root = empty.path();
  EnergyProbe absent = open_package_energy(0, sys);
  CHECK_FALSE(absent.meter);
  REQUIRE(absent.unavailable.size() == 2);
  CHECK(has(absent.unavailable[0], "/sys/class/powercap is absent"));
  REQUIRE(absent.notes.size() == 1);
  CHECK(has(absent.notes[0], "physical_package_id is unreadable"));
}

// Runs open_package_energy in a child that has dropped root (mode bits do
// not stop root's reads), returning the reasons it gave.
std::string probe_as_nobody(const EnergySystem& sys, bool* ran) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      out = "SETUID-FAILED";
    } else {
      EnergyProbe probe = open_package_energy(0, sys);
      out = probe.meter ? "OPENED" : probe.unavailable.at(0);
    }
    ssize_t unused = write(fds[1], out.data(), out.size());
    (void)unused;
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  *ran = text != "SETUID-FAILED";
  return text;
}

TEST_CASE("powercap: an unreadable energy_uj names its mode, owner and the fix") {
  FakeRoot root;
  const std::string zone = "/sys/class/powercap/intel-rapl:0";
  root.write(zone + "/name", "package-0\n");
  root.write(zone + "/max_energy_range_uj", "262143328850\n");
  root.write(zone + "/energy_uj", "1\n");
  root.write("/sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
  for (const char* dir : {"/sys", "/sys/class", "/sys/class/powercap", "/sys/devices",
                          "/sys/devices/system", "/sys/devices/system/cpu",
                          "/sys/devices/system/cpu/cpu0", "/sys/devices/system/cpu/cpu0/topology",
                          "/sys/class/powercap/intel-rapl:0"}) {
    chmod((root.path() + dir).c_str(), 0755);
  }
  REQUIRE(chmod((root.path() + zone + "/energy_uj").c_str(), 0) == 0);
  EnergySystem sys;
  sys.root = root.path();
  std::string reason;
  if (geteuid() == 0) {
    bool ran = false;
    reason = probe_as_nobody(sys, &ran);
    if (!ran) {
      llmk::test::skip("running as root and setuid(nobody) failed: mode bits cannot be tested");
      return;
    }
  } else {
    EnergyProbe probe = open_package_energy(0, sys);
    REQUIRE_FALSE(probe.meter);
    reason = probe.unavailable.at(0);
  }
  CHECK(has(reason, "powercap intel-rapl:0 (package-0)"));
  CHECK(has(reason, "energy_uj is mode 0000 owned by uid " + std::to_string(geteuid())));
  CHECK(has(reason, "CVE-2020-8694"));
  CHECK(has(reason, "run as root"));
}

TEST_CASE("permission texts") {
  CHECK(describe_powercap_denied("/x/energy_uj", S_IFREG | 0400, 0, 1000) ==
        "/x/energy_uj is mode 0400 owned by uid 0, not readable by uid 1000 (energy_uj has been "
        "root-only since Linux 5.10, CVE-2020-8694); run as root or make it readable (chmod "
        "a+r, or a udev rule)");
  const std::string none = describe_perf_denied(EACCES, 2, 0);
  CHECK(has(none, "EACCES"));
  CHECK(has(none, "perf_event_paranoid <= 0 (it is 2)"));
  CHECK(has(none, "CAP_PERFMON"));
  CHECK(has(none, "neither"));
  CHECK_FALSE(has(none, "security module"));
  const std::string with_cap = describe_perf_denied(EPERM, 2, uint64_t{1} << 38);
  CHECK(has(with_cap, "this process has CAP_PERFMON"));
  CHECK(has(with_cap, "security module"));
  CHECK(has(describe_perf_denied(EACCES, std::nullopt, std::nullopt), "(it is unreadable)"));

  CHECK(parse_effective_capabilities("Name:\tx\nCapEff:\t000001fffeffffff\n") ==
        0x000001fffeffffffull);
  CHECK_FALSE(parse_effective_capabilities("Name:\tx\n").has_value());
  CHECK(parse_perf_event_config("event=0x02\n") == 2u);
  CHECK(parse_perf_event_config("event=0x0b,umask=0x0") == 11u);
  CHECK(parse_perf_event_config("event=5") == 5u);
  CHECK_FALSE(parse_perf_event_config("umask=0x1").has_value());
}

// The power PMU's sysfs description as the kernel writes it.
void write_power_pmu(const FakeRoot& root) {
  const std::string dir = "/sys/bus/event_source/devices/power";
  root.write(dir + "/type", "23\n");
  root.write(dir + "/events/energy-pkg", "event=0x02\n");
  root.write(dir + "/events/energy-pkg.scale", "2.3283064365386962890625e-10\n");
  root.write(dir + "/events/energy-pkg.unit", "Joules\n");
  root.write("/sys/devices/system/cpu/cpu2/topology/physical_package_id", "1\n");
}

TEST_CASE("perf energy-pkg: a refusal names perf_event_paranoid and the capabilities") {
  FakeRoot root;
  write_power_pmu(root);
  root.write("/proc/sys/kernel/perf_event_paranoid", "2\n");
  root.write("/proc/self/status", "Name:\tllmk\nCapEff:\t0000000000000000\n");
  EnergySystem sys;
  sys.root = root.path();
  sys.perf_open = [](uint32_t, uint64_t, int) { return -EACCES; };
  EnergyProbe probe = open_package_energy(2, sys);
  CHECK_FALSE(probe.meter);
  REQUIRE(probe.unavailable.size() == 2);
  CHECK(has(probe.unavailable[1], "perf power/energy-pkg/: EACCES"));
  CHECK(has(probe.unavailable[1], "perf_event_paranoid <= 0 (it is 2)"));
  CHECK(has(probe.unavailable[1], "this process has neither"));

  sys.perf_open = [](uint32_t, uint64_t, int) { return -ENOENT; };
  probe = open_package_energy(2, sys);
  CHECK(has(probe.unavailable[1], "ENOENT"));
}

TEST_CASE("perf energy-pkg: counts scaled to joules, on the CPU asked for") {
  FakeRoot root;
  write_power_pmu(root);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  uint32_t seen_type = 0;
  uint64_t seen_config = 0;
  int seen_cpu = -1;
  EnergySystem sys;
  sys.root = root.path();
  sys.perf_open = [&](uint32_t type, uint64_t config, int cpu) {
    seen_type = type;
    seen_config = config;
    seen_cpu = cpu;
    return fds[0];  // the meter reads 8-byte counts from it, as from a perf fd
  };
  EnergyProbe probe = open_package_energy(2, sys);
  REQUIRE(probe.meter);
  CHECK(seen_type == 23);
  CHECK(seen_config == 2);
  CHECK(seen_cpu == 2);
  CHECK(probe.meter->source() == "perf power/energy-pkg/ (package 1, CPU 2)");
  CHECK(probe.meter->max_read_gap_s() == std::numeric_limits<double>::infinity());
  const uint64_t counts[2] = {1000, 1000 + (uint64_t{1} << 33)};  // 8 Gi counts = 2 J
  REQUIRE(write(fds[1], counts, sizeof counts) == static_cast<ssize_t>(sizeof counts));
  REQUIRE(probe.meter->begin(0));
  const EnergyInterval e = probe.meter->end(100 * kMs);
  REQUIRE(e.joules.has_value());
  CHECK(*e.joules == doctest::Approx(2.0).epsilon(1e-12));
  close(fds[1]);
  probe.meter.reset();  // closes fds[0]
}

// ---------------------------------------------------------------- timer

TEST_CASE("timer: ticks_to_ns agrees with CLOCK_MONOTONIC over a 20 ms spin") {
  const Timer& t = Timer::instance();
  const std::string name = t.name();
  CHECK((name == "tsc" || name == "cntvct" || name == "clock_monotonic"));
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_invariant_tsc()) CHECK(name == "tsc");
#elif defined(__aarch64__)
  CHECK((name == "cntvct" || !t.fallback_reason().empty()));
#else
  CHECK(name == "clock_monotonic");
#endif
  if (name == "clock_monotonic") CHECK(t.ticks_per_ns() == 1.0);
  // Each timer read is bracketed by clock reads, so the true elapsed time
  // lies between the inner and outer bracket spans. The TSC's rate was
  // calibrated against the same clock to within NTP's 0.05% slew plus a
  // bracket of about 1 µs in 20 ms; a CNTVCT is only used when start-up
  // found its stated rate within 0.5% of the measured one; clock_monotonic
  // is the clock itself. So 0.5% bounds every source, and a mis-scaled
  // counter (a wrong rate is off by far more) fails.
  const uint64_t a0 = monotonic_ns();
  const uint64_t t0 = t.now();
  const uint64_t b0 = monotonic_ns();
  while (monotonic_ns() - b0 < 20 * kMs) {
  }
  const uint64_t a1 = monotonic_ns();
  const uint64_t t1 = t.now();
  const uint64_t b1 = monotonic_ns();
  const double timer_ns = t.ticks_to_ns(t1 - t0);
  const double inner = static_cast<double>(a1 - b0), outer = static_cast<double>(b1 - a0);
  CHECK(timer_ns >= inner * (1 - 0.005));
  CHECK(timer_ns <= outer * (1 + 0.005));
}

TEST_CASE("counter rate check") {
  CHECK(counter_rate_agrees(54e6, 54.02e6, 0.01));
  CHECK_FALSE(counter_rate_agrees(19.2e6, 54e6, 0.01));  // firmware stating the wrong rate
  CHECK_FALSE(counter_rate_agrees(0, 54e6, 0.01));
  CHECK_FALSE(counter_rate_agrees(54e6, 0, 0.01));
}

TEST_CASE("hypervisor detection from a fake sysfs tree") {
  FakeRoot root;
  CHECK(detect_hypervisor(root.path()).state == HypervisorState::kUnknown);
  root.write("/sys/class/dmi/id/sys_vendor", "Amazon EC2\n");  // bare metal carries it too
  CHECK(detect_hypervisor(root.path()).state == HypervisorState::kUnknown);
  root.write("/sys/class/dmi/id/product_name", "KVM\n");
  CHECK(detect_hypervisor(root.path()).state == HypervisorState::kYes);
  FakeRoot xen;
  xen.write("/sys/hypervisor/type", "xen\n");
  const HypervisorCheck x = detect_hypervisor(xen.path());
  CHECK(x.state == HypervisorState::kYes);
  CHECK(x.evidence == "/sys/hypervisor/type: xen");
}

// ---------------------------------------------------------------- reports

SuiteResult platform_suite() {
  SuiteResult suite;
  suite.timer = "tsc";
  suite.tsc_ghz = 2.5;
  suite.pinned_cpu = 3;
  suite.isolated_cpus = {2, 3};
  suite.nohz_full_cpus = {3};
  suite.pinned_cpu_isolated = true;
  suite.pinned_cpu_nohz_full = true;
  suite.governor = "performance";
  suite.hypervisor = "cpuid hypervisor bit clear";
  suite.energy_source = "powercap intel-rapl:0 (package-0)";
  BenchmarkResult gen;
  gen.name = "generate/stories15M/tg128";
  gen.item_name = "token";
  gen.items_per_op = 128;
  gen.batch_size = 1;
  gen.samples_ns = {1e8, 1e8};
  gen.total_ops = 2;
  gen.stats.n = 2;
  gen.stats.median = 1e8;
  gen.energy_joules_per_op = 6.4;  // 0.05 J/token, 20 tokens/J
  suite.results.push_back(gen);
  BenchmarkResult dot;
  dot.name = "ops/dot/384";
  dot.batch_size = 10;
  dot.samples_ns = {10};
  dot.total_ops = 10;
  dot.stats.n = 1;
  dot.stats.median = 10;
  dot.energy_status = "measured 12.0 ms, under the 50 ms needed";
  suite.results.push_back(dot);
  return suite;
}

std::string summary_text(const SuiteResult& suite) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  REQUIRE(f);
  print_summary(suite, f);
  std::fclose(f);
  std::string text(buf, size);
  std::free(buf);
  return text;
}

TEST_CASE("console: pinning facts in the header, energy per item and per token") {
  SuiteResult suite = platform_suite();
  std::string text = summary_text(suite);
  CHECK(has(text, "CPU 3 (isolated, nohz_full); isolated CPUs 2-3, nohz_full CPUs 3"));
  CHECK(has(text, "energy powercap intel-rapl:0 (package-0)"));
  CHECK(has(text, "50 mJ/token  20 tokens/J"));
  CHECK(has(text, "n/a: measured 12.0 ms"));

  suite.energy_source = "n/a";
  suite.energy_unavailable = {"powercap: /sys/class/powercap is absent", "perf: no 'power' PMU"};
  suite.pinned_cpu = 1;
  suite.pinned_cpu_isolated = suite.pinned_cpu_nohz_full = false;
  suite.isolated_cpus.clear();
  suite.nohz_full_cpus.clear();
  text = summary_text(suite);
  CHECK(has(text, "CPU 1 (not isolated, not nohz_full); isolated CPUs none, nohz_full CPUs none"));
  CHECK(has(text,
            "energy n/a:\n  powercap: /sys/class/powercap is absent\n  perf: no 'power' PMU"));
}

TEST_CASE("JSON and CSV carry the pinning and energy fields") {
  const SuiteResult suite = platform_suite();
  auto doc = parse_json(format_json(suite));
  REQUIRE(doc.ok());
  const JsonValue* ctx = doc->find("context")->find("llmk");
  REQUIRE(ctx);
  CHECK(ctx->find("isolated_cpus")->string == "2-3");
  CHECK(ctx->find("nohz_full_cpus")->string == "3");
  CHECK(ctx->find("pinned_cpu_isolated")->boolean);
  CHECK(ctx->find("pinned_cpu_nohz_full")->boolean);
  CHECK(ctx->find("energy_source")->string == "powercap intel-rapl:0 (package-0)");
  CHECK(ctx->find("energy_unavailable")->array.empty());
  const JsonValue& gen = doc->find("benchmarks")->array[0];
  CHECK(gen.find("energy_joules")->number == doctest::Approx(6.4));
  CHECK(gen.find("energy_joules_per_item")->number == doctest::Approx(0.05));
  CHECK(gen.find("joules_per_token")->number == doctest::Approx(0.05));
  CHECK(gen.find("tokens_per_joule")->number == doctest::Approx(20));
  const JsonValue& dot = doc->find("benchmarks")->array[1];
  CHECK(dot.find("energy_joules_per_item") == nullptr);  // absent, never 0
  CHECK(dot.find("joules_per_token") == nullptr);
  CHECK(has(dot.find("llmk")->find("energy_status")->string, "12.0 ms"));

  const std::string csv = format_csv(suite);
  const std::string header = csv.substr(0, csv.find('\n'));
  CHECK(has(header, "energy_joules_per_op,energy_joules_per_item,joules_per_token,"
                    "tokens_per_joule,vector_bytes"));
  const size_t row = csv.find('\n') + 1;
  const std::string gen_row = csv.substr(row, csv.find('\n', row) - row);
  CHECK(has(gen_row, ",6.4,0.05,0.05,20,"));
  const size_t row2 = csv.find('\n', row) + 1;
  const std::string dot_row = csv.substr(row2, csv.find('\n', row2) - row2);
  CHECK(has(dot_row, ",,,,,"));  // four empty energy cells, then the next column
}

TEST_CASE("a run records pinning and why energy is missing or how it was measured") {
  const std::vector<int> saved = allowed_cpus();
  BenchmarkSpec spec;
  spec.name = "platform/spin";
  spec.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) {
      for (uint64_t i = 0; i < count; ++i) do_not_optimize(i);
      return absl::OkStatus();
    });
  };
  BenchmarkConfig config;
  config.cpu = saved.front();
  config.max_time_s = 0.06;
  config.max_warmup_s = 0.01;
  config.progress = false;
  auto suite = run_benchmarks(std::span<const BenchmarkSpec>(&spec, 1), config);
  REQUIRE(suite.ok());
  CHECK(suite->pinned_cpu == saved.front());
  CHECK(suite->isolated_cpus == read_cpu_isolation().isolated);
  CHECK(allowed_cpus() == saved);  // the mask is restored after the run
  REQUIRE(suite->results.size() == 1);
  if (suite->energy_source == "n/a") {
    CHECK(suite->energy_unavailable.size() == 2);  // powercap and perf, each with its reason
    CHECK_FALSE(suite->results[0].energy_joules_per_op.has_value());
  } else {
    CHECK(suite->energy_unavailable.empty());
    CHECK((suite->results[0].energy_joules_per_op.has_value() ||
           !suite->results[0].energy_status.empty()));
  }
}

}  // namespace
}  // namespace llmk::bench
