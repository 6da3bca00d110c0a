// Proves the harness's counter code on a real kernel PMU. Runs as /init's
// child inside the emulated aarch64 system that tools/arm64-pmu-check.sh
// boots (QEMU -M virt, a PMUv3 CPU, -icount shift=0), so every instruction
// count is exact and known in advance:
//
//   1. the default events: cycles and instructions are measured, the
//      instruction count matches the workload's, events the PMU lacks read
//      n/a with their reason;
//   2. more single-event groups than counters: the kernel multiplexes them,
//      each reads a scaled value with a counted fraction below 1, close to
//      the exact count;
//   3. one group of more events than counters: never a wrong number (with a
//      single group the kernel never schedules, every event reads n/a);
//   4. the kernel facts behind 3, without the harness: such a group is
//      refused (EINVAL) when its leader opens enabled, opens when the leader
//      opens disabled, and then its time_running stays 0.
//
// Prints one table per part, "check ok|FAIL: ..." lines, and "PROBE PASS" or
// "PROBE FAIL" last; the host script reads these lines (an init process has
// no exit status to hand back).
//
//   arm64_pmu_probe --counters=N [--iterations=M]

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "perf_counters.h"

namespace {

using llmk::bench::CounterSet;
using llmk::bench::CounterValue;

// 100M instructions: 100 ms of virtual time at one instruction per ns, about
// 25 turns of the kernel's 4 ms multiplexing rotation, so each multiplexed
// group's share settles near its average.
constexpr uint64_t kDefaultIterations = 50'000'000;

// User-space instructions inside a measured window besides the loop: the
// return from one read(2), the rest of CounterSet::read's loop over the
// groups of every set measured together, the call into the loop and back,
// and the entry into the next read(2). A few hundred at most; 2000 leaves
// room for a CounterSet that reads more groups, while any lost or doubled
// iteration (2 instructions each, 100M of them) still shows.
constexpr double kWindowOverheadInstructions = 2000;

// A multiplexed count is scaled by time_enabled / time_running. The loop
// retires at a constant rate, so the scaling is exact but for the kernel's
// own time inside the window (ticks, the rotation itself), which counts as
// enabled time but retires no user instructions, and for the first and
// last partial slice: a small fraction of the window. 1% still catches a
// count left unscaled (off by the uncounted share, about 30% here) or
// scaled with another group's times.
constexpr double kScaledRelativeTolerance = 0.01;

// With -icount shift=0 QEMU advances its virtual clock 1 ns per instruction
// and its PMU counts 1 cycle per ns, so IPC is 1.0 by construction; the
// measured windows differ only by the few instructions of the reads.
constexpr double kIpcTolerance = 0.001;

// Exactly two instructions per iteration: subs and b.ne.
void count_down(uint64_t iterations) {
#if defined(__aarch64__)
  asm volatile("1:\n\tsubs %0, %0, #1\n\tb.ne 1b" : "+r"(iterations) : : "cc");
#else
#error "this probe runs the aarch64 PMU; build it with an aarch64 compiler"
#endif
}

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("check %s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

std::string format_count(std::optional<double> count, const char* missing = "n/a") {
  if (!count) return missing;
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", *count);
  return text;
}

// Several sets measured over the same workload: every snapshot is sized
// before the window opens, so nothing allocates inside it.
std::vector<std::vector<CounterValue>> measure(std::vector<std::unique_ptr<CounterSet>>& sets,
                                               uint64_t iterations) {
  std::vector<CounterSet::Snapshot> before, after;
  for (auto& set : sets) {
    before.push_back(set->new_snapshot());
    after.push_back(set->new_snapshot());
  }
  for (size_t i = 0; i < sets.size(); ++i) sets[i]->read(before[i]);
  count_down(iterations);
  for (size_t i = 0; i < sets.size(); ++i) sets[i]->read(after[i]);
  std::vector<std::vector<CounterValue>> values;
  for (size_t i = 0; i < sets.size(); ++i)
    values.push_back(sets[i]->values_between(before[i], after[i]));
  return values;
}

struct Row {
  std::string event;
  std::optional<double> count;
  double counted_fraction = 0;
  std::optional<double> expected;
  std::string note;
};

void print_table(const char* title, const std::vector<Row>& rows) {
  std::printf("\n%s\n\n", title);
  std::printf("| event | count | counted | expected | error | status |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | --- |\n");
  for (const Row& r : rows) {
    std::string counted = "-", error = "-";
    if (r.count) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f%%", 100.0 * r.counted_fraction);
      counted = text;
      if (r.expected) {
        std::snprintf(text, sizeof text, "%+.4f%%", 100.0 * (*r.count - *r.expected) / *r.expected);
        error = text;
      }
    }
    std::printf("| %s | %s | %s | %s | %s | %s |\n", r.event.c_str(), format_count(r.count).c_str(),
                counted.c_str(), format_count(r.expected, "-").c_str(), error.c_str(),
                r.note.c_str());
  }
  std::printf("\n");
}

bool is_hardware_event(const std::string& event) {
  return event == "cycles" || event == "instructions";
}

// Part 1: the harness's default events, as a bench run opens them.
void check_default_events(uint64_t iterations) {
  auto source = llmk::bench::make_system_counter_source();
  std::vector<std::unique_ptr<CounterSet>> sets;
  sets.push_back(std::make_unique<CounterSet>(llmk::bench::default_counter_events(), *source));
  const std::vector<CounterValue> values = measure(sets, iterations)[0];
  const auto& status = sets[0]->status();

  const double loop_instructions = 2.0 * static_cast<double>(iterations);
  std::vector<Row> rows;
  std::optional<double> cycles, instructions;
  for (size_t i = 0; i < values.size(); ++i) {
    Row r{values[i].event, values[i].count, values[i].running_fraction, std::nullopt,
          status[i].reason};
    if (is_hardware_event(r.event)) r.expected = loop_instructions;
    if (r.event == "cycles") cycles = r.count;
    if (r.event == "instructions") instructions = r.count;
    rows.push_back(r);
    if (!r.count) {
      check(!status[i].reason.empty() && status[i].reason != "ok",
            r.event + " is n/a and says why: " + status[i].reason);
    }
  }
  print_table("Default events, one window of the loop", rows);

  check(cycles.has_value() && *cycles > 0, "cycles is a measured number: " + format_count(cycles));
  check(instructions.has_value(),
        "instructions is a measured number: " + format_count(instructions));
  if (instructions) {
    const double extra = *instructions - loop_instructions;
    char text[160];
    std::snprintf(text, sizeof text,
                  "instructions = 2 x %" PRIu64
                  " iterations + %.0f (window overhead allowed: 0..%.0f)",
                  iterations, extra, kWindowOverheadInstructions);
    check(extra >= 0 && extra <= kWindowOverheadInstructions, text);
  }
  for (const CounterValue& v : values) {
    if (is_hardware_event(v.event) && v.count) {
      check(v.running_fraction == 1.0,
            v.event + " counted the whole window (2 events, no multiplexing)");
    }
  }
  if (cycles && instructions) {
    const double ipc = *instructions / *cycles;
    char text[96];
    std::snprintf(text, sizeof text, "IPC = %.4f (1.0 by construction under -icount)", ipc);
    check(std::fabs(ipc - 1.0) <= kIpcTolerance, text);
  }
}

// Part 2: more single-event groups than counters, all enabled at once.
void check_multiplexed(uint64_t iterations, int counters) {
  auto source = llmk::bench::make_system_counter_source();
  std::vector<std::unique_ptr<CounterSet>> sets;
  const int groups = counters + 3;
  for (int i = 0; i < groups; ++i) {
    const std::string event = i % 2 == 0 ? "cycles" : "instructions";
    sets.push_back(std::make_unique<CounterSet>(std::vector<std::string>{event}, *source));
  }
  const auto values = measure(sets, iterations);
  const double truth = 2.0 * static_cast<double>(iterations);

  std::vector<Row> rows;
  double fraction_sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const CounterValue& v = values[i][0];
    rows.push_back({v.event, v.count, v.running_fraction, truth, sets[i]->status()[0].reason});
    char text[160];
    if (!v.count) {
      check(false, "group " + std::to_string(i) + " (" + v.event +
                       ") was never counted: " + sets[i]->status()[0].reason);
      continue;
    }
    fraction_sum += v.running_fraction;
    std::snprintf(text, sizeof text, "group %zu (%s): counted %.1f%% of the window, below 100%%", i,
                  v.event.c_str(), 100.0 * v.running_fraction);
    check(v.running_fraction > 0 && v.running_fraction < 1, text);
    const double error = (*v.count - truth) / truth;
    std::snprintf(text, sizeof text,
                  "group %zu (%s): scaled count within %.1f%% of the exact one (%+.4f%%)", i,
                  v.event.c_str(), 100.0 * kScaledRelativeTolerance, 100.0 * error);
    check(std::fabs(error) <= kScaledRelativeTolerance, text);
  }
  char title[160];
  std::snprintf(
      title, sizeof title,
      "%d single-event groups on %d counters (multiplexed; counted fractions sum to %.2f)", groups,
      counters, fraction_sum);
  print_table(title, rows);
}

// Part 3: one set of more events than counters.
void check_oversized_set(uint64_t iterations, int counters) {
  auto source = llmk::bench::make_system_counter_source();
  std::vector<std::string> events;
  for (int i = 0; i <= counters; ++i) events.push_back(i % 2 == 0 ? "cycles" : "instructions");
  std::vector<std::unique_ptr<CounterSet>> sets;
  sets.push_back(std::make_unique<CounterSet>(events, *source));
  const std::vector<CounterValue> values = measure(sets, iterations)[0];
  const auto& status = sets[0]->status();
  const double truth = 2.0 * static_cast<double>(iterations);

  bool one_group = true;
  for (const auto& st : status)
    one_group = one_group && st.group >= 0 && st.group == status[0].group;
  std::vector<Row> rows;
  for (size_t i = 0; i < values.size(); ++i) {
    const CounterValue& v = values[i];
    std::string note = status[i].reason;
    if (status[i].group >= 0) note += ", group " + std::to_string(status[i].group);
    if (!v.count && status[i].state == llmk::bench::CounterState::kOk) note += ", not counted";
    rows.push_back({v.event, v.count, v.running_fraction, truth, note});
    if (!v.count) continue;
    char text[160];
    std::snprintf(
        text, sizeof text, "event %zu (%s): counted, so within %.1f%% of the exact count (%+.4f%%)",
        i, v.event.c_str(), 100.0 * kScaledRelativeTolerance, 100.0 * (*v.count - truth) / truth);
    check(std::fabs(*v.count - truth) <= kScaledRelativeTolerance * truth, text);
  }
  char title[160];
  std::snprintf(title, sizeof title, "%d events asked as one set on %d counters (%s)", counters + 1,
                counters, one_group ? "opened as one group" : "split into groups");
  print_table(title, rows);
  if (one_group) {
    bool all_na = true;
    for (const CounterValue& v : values) all_na = all_na && !v.count;
    check(all_na, "the one group of " + std::to_string(counters + 1) +
                      " events never ran, and every event reads n/a (not 0)");
  }
}

// Part 4: the kernel's behaviour the harness must cope with, seen through
// perf_event_open directly. The ARM PMU driver checks that a new group
// member fits beside its siblings, but leaves out a leader opened disabled,
// so one more event than counters opens when the leader starts disabled.
struct RawGroup {
  std::vector<int> fds;
  int open_errno = 0;  // of the first open that failed
  ~RawGroup() {
    for (size_t i = fds.size(); i-- > 0;) close(fds[i]);
  }
};

void open_raw_group(int events, bool leader_disabled, RawGroup& group) {
  for (int i = 0; i < events; ++i) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = i % 2 == 0 ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_HW_INSTRUCTIONS;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.disabled = i == 0 && leader_disabled;
    attr.read_format =
        PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    const long fd = syscall(SYS_perf_event_open, &attr, 0, -1,
                            group.fds.empty() ? -1 : group.fds[0], PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
      group.open_errno = errno;
      return;
    }
    group.fds.push_back(static_cast<int>(fd));
  }
}

void check_kernel_oversized_group(uint64_t iterations, int counters) {
  const int events = counters + 1;
  std::printf("\nKernel, without the harness (a group of %d hardware events):\n", events);
  {
    RawGroup group;
    open_raw_group(events, /*leader_disabled=*/false, group);
    std::printf("- leader enabled: event %zu refused with %s\n", group.fds.size() + 1,
                group.open_errno ? std::strerror(group.open_errno) : "nothing (all opened)");
    check(static_cast<int>(group.fds.size()) == counters && group.open_errno == EINVAL,
          "kernel: with its leader enabled, the group's event " + std::to_string(events) +
              " is refused with EINVAL");
  }
  RawGroup group;
  open_raw_group(events, /*leader_disabled=*/true, group);
  check(
      static_cast<int>(group.fds.size()) == events,
      "kernel: with its leader disabled, the group of " + std::to_string(events) + " events opens" +
          (group.open_errno ? std::string(" (not: ") + std::strerror(group.open_errno) + ")" : ""));
  if (static_cast<int>(group.fds.size()) != events) return;
  ioctl(group.fds[0], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
  count_down(iterations);
  std::vector<uint64_t> words(3 + group.fds.size());
  const ssize_t got = ::read(group.fds[0], words.data(), words.size() * sizeof words[0]);
  const bool read_ok = got == static_cast<ssize_t>(words.size() * sizeof words[0]);
  char text[160];
  std::snprintf(text, sizeof text, "time_enabled %" PRIu64 " ns, time_running %" PRIu64 " ns",
                read_ok ? words[1] : 0, read_ok ? words[2] : 0);
  std::printf("- leader disabled: all %d opened, then enabled over the loop: %s\n\n", events, text);
  check(read_ok && words[1] > 0 && words[2] == 0,
        std::string("kernel: that group never runs: ") + text);
}

bool parse_flag(const char* arg, const char* name, uint64_t* value) {
  const size_t len = std::strlen(name);
  if (std::strncmp(arg, name, len) != 0 || arg[len] != '=') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(arg + len + 1, &end, 10);
  if (errno != 0 || end == arg + len + 1 || *end != '\0') return false;
  *value = parsed;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = kDefaultIterations, counters = 0;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argv[i], "--iterations", &iterations) &&
        !parse_flag(argv[i], "--counters", &counters)) {
      std::fprintf(stderr,
                   "arm64_pmu_probe: bad argument '%s' (use --counters=N [--iterations=M])\n",
                   argv[i]);
      return 2;
    }
  }
  if (counters < 1 || counters > 64 || iterations < 1) {
    std::fprintf(
        stderr,
        "arm64_pmu_probe: --counters must be 1..64 (the kernel's count) and --iterations >= 1\n");
    return 2;
  }
  std::printf("arm64_pmu_probe: %" PRIu64 " iterations of (subs, b.ne) = %" PRIu64
              " instructions per window, %" PRIu64 " counters\n",
              iterations, 2 * iterations, counters);
  check_default_events(iterations);
  check_multiplexed(iterations, static_cast<int>(counters));
  check_oversized_set(iterations, static_cast<int>(counters));
  check_kernel_oversized_group(iterations, static_cast<int>(counters));
  std::printf("\nPROBE %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}
