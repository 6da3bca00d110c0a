// Proves the harness's counter code on a real kernel PMU, along the path
// `llmk-bench --counters` takes. Runs as /init's child inside the emulated
// aarch64 system that tools/arm64-pmu-check.sh boots (QEMU -M virt, a PMUv3
// CPU, -icount shift=0), so every instruction count is exact and known in
// advance:
//
//   1. capacity: probe_counter_capacity finds the free counters, and a group
//      of the cycle counter plus that many event counters runs, so the
//      kernel's "N counters available" is the free count plus the cycle
//      counter;
//   2. the default groups through fit_counter_groups: cycles and
//      instructions measured, the instruction count matches the workload's,
//      IPC 1.0; events the PMU lacks and the SIMD share read n/a with their
//      reasons;
//   3. ten single-event groups on fewer counters: the kernel multiplexes
//      them, each reads a scaled value with a counted fraction below 1,
//      close to the exact count;
//   4. one group of more events than counters: as asked it never runs and
//      every event reads n/a (not scheduled), never 0; after
//      fit_counter_groups it is split and every event counts;
//   5. inherit: a set opened with inherit sums the worker threads started
//      after it, a set without it sees only the measuring thread;
//   6. the kernel facts behind 4, without the harness: such a group is
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

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness/perf_counters.h"

namespace {

namespace lb = llmk::bench;
using lb::CounterSet;
using lb::CounterValue;
using lb::EventGroup;

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

// A window that starts and joins worker threads also counts, in user space,
// std::thread's and pthread_create's setup, each thread's start and exit
// path in the C library and the joins: thousands of instructions per
// thread. 50000 covers that many times over, while a thread left out of an
// inherited count (100M instructions) or counted twice still shows.
constexpr double kThreadOverheadInstructions = 50000;

// A multiplexed count is scaled by time_enabled / time_running. The loop
// retires at a constant rate, so the scaling is exact but for the kernel's
// own time inside the window (ticks, the rotation itself), which counts as
// enabled time but retires no user instructions, and for the first and
// last partial slice: a small fraction of the window. 1% still catches a
// count left unscaled (off by the uncounted share, about 30% here) or
// scaled with another group's times.
constexpr double kScaledRelativeTolerance = 0.01;

// The counted fractions of groups that share the counters sum to the
// number of counters busy; the groups are read one after another,
// microseconds apart in a 100 ms window, so the sum strays from the
// counter count by far less than 0.01.
constexpr double kFractionSumTolerance = 0.01;

// With -icount shift=0 QEMU advances its virtual clock 1 ns per instruction
// and its PMU counts 1 cycle per ns, so IPC is 1.0 by construction; the
// measured windows differ only by the few instructions of the reads.
constexpr double kIpcTolerance = 0.001;

// Exactly two instructions per iteration: subs and b.ne.
__attribute__((noinline)) void count_down(uint64_t iterations) {
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

std::string percent(double fraction, const char* format = "%.1f%%") {
  char text[32];
  std::snprintf(text, sizeof text, format, 100.0 * fraction);
  return text;
}

bool within(std::optional<double> count, double truth, double relative) {
  return count && std::fabs(*count - truth) <= relative * truth;
}

// Several sets measured over the same workload: every snapshot is sized
// before the window opens, so nothing allocates inside it.
std::vector<std::vector<CounterValue>> measure(const std::vector<CounterSet*>& sets,
                                               const std::function<void()>& workload) {
  std::vector<CounterSet::Snapshot> before, after;
  for (CounterSet* set : sets) {
    before.push_back(set->new_snapshot());
    after.push_back(set->new_snapshot());
  }
  for (size_t i = 0; i < sets.size(); ++i) sets[i]->read(before[i]);
  workload();
  for (size_t i = 0; i < sets.size(); ++i) sets[i]->read(after[i]);
  std::vector<std::vector<CounterValue>> values;
  for (size_t i = 0; i < sets.size(); ++i)
    values.push_back(sets[i]->values_between(before[i], after[i]));
  return values;
}

std::vector<CounterValue> measure_loop(CounterSet& set, uint64_t iterations) {
  return measure({&set}, [iterations] { count_down(iterations); })[0];
}

struct Row {
  std::string event;
  int group = -1;
  std::optional<double> count;
  double counted_fraction = 0;
  std::optional<double> expected;
  std::string note;
};

void print_table(const std::string& title, const std::vector<Row>& rows) {
  std::printf("\n%s\n\n", title.c_str());
  std::printf("| event | group | count | counted | expected | error | status |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (const Row& r : rows) {
    std::string counted = "-", error = "-";
    if (r.count) {
      counted = percent(r.counted_fraction);
      if (r.expected && *r.expected > 0) {
        error = percent((*r.count - *r.expected) / *r.expected, "%+.4f%%");
      }
    }
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.event.c_str(),
                r.group >= 0 ? std::to_string(r.group).c_str() : "-",
                format_count(r.count).c_str(), counted.c_str(),
                format_count(r.expected, "-").c_str(), error.c_str(), r.note.c_str());
  }
  std::printf("\n");
}

// The rows of one measurement, as counter_results reports them.
std::vector<Row> rows_of(const CounterSet& set, const std::vector<CounterValue>& values,
                         std::optional<double> truth) {
  const auto results = lb::counter_results(set.status(), values, 1.0);
  std::vector<Row> rows;
  for (size_t i = 0; i < values.size(); ++i) {
    const bool hardware = values[i].event == "cycles" || values[i].event == "instructions";
    rows.push_back({values[i].event, values[i].group, values[i].count,
                    values[i].running_fraction, hardware ? truth : std::nullopt,
                    results[i].status});
  }
  return rows;
}

void print_lines(const char* prefix, const std::vector<std::string>& lines) {
  for (const std::string& line : lines) std::printf("%s%s\n", prefix, line.c_str());
}

lb::CounterOptions options_for(const lb::CounterCapacity& capacity, bool inherit = false) {
  lb::CounterOptions options;
  options.free_counters = capacity.free_counters;
  options.inherit = inherit;
  return options;
}

// Part 1: the free counters, as llmk-bench probes them at start-up.
lb::CounterCapacity check_capacity(lb::CounterSource& source, int kernel_counters,
                                   uint64_t iterations) {
  const lb::CounterCapacity capacity =
      lb::probe_counter_capacity(source, lb::read_nmi_watchdog());
  std::printf("\nCapacity: probe_counter_capacity says \"%s\" (nmi_watchdog %d; the kernel: %d "
              "counters available)\n",
              capacity.description.c_str(), capacity.nmi_watchdog, kernel_counters);
  const int free = capacity.free_counters.value_or(-1);
  check(capacity.free_counters && !capacity.at_least && capacity.probe_event == "instructions",
        "capacity: a definite count found with instructions groups");
  // PMUv3's cycle counter counts only cpu_cycles; the probe fills its groups
  // with instructions, which only the programmable event counters take.
  check(free == kernel_counters - 1,
        "capacity: " + std::to_string(free) + " free event counters = the kernel's " +
            std::to_string(kernel_counters) + " less the dedicated cycle counter");
  if (free < 1) return capacity;

  // The cycle counter, shown: cycles + `free` x instructions runs whole,
  // (free + 1) x instructions never runs.
  const auto options = options_for(capacity);
  EventGroup with_cycles(static_cast<size_t>(free), "instructions");
  with_cycles.insert(with_cycles.begin(), "cycles");
  const EventGroup too_many(static_cast<size_t>(free + 1), "instructions");
  const std::string names[2] = {"cycles + " + std::to_string(free) + " x instructions",
                                std::to_string(free + 1) + " x instructions"};
  std::vector<Row> rows;
  for (int i = 0; i < 2; ++i) {
    CounterSet set(std::vector<EventGroup>{i == 0 ? with_cycles : too_many}, source, options);
    const auto values = measure_loop(set, iterations / 10);
    const bool all_counted = std::all_of(values.begin(), values.end(), [](const CounterValue& v) {
      return v.count && v.running_fraction == 1.0;
    });
    const bool none_counted = std::none_of(values.begin(), values.end(),
                                           [](const CounterValue& v) { return v.count.has_value(); });
    rows.push_back({names[i], values[0].group, values[0].count, values[0].running_fraction,
                    2.0 * static_cast<double>(iterations / 10),
                    values[0].count ? "ok" : values[0].not_counted});
    if (i == 0) {
      check(all_counted, "capacity: " + names[i] + " (" + std::to_string(values.size()) +
                             " events, the kernel's count) runs whole, every event counted");
    } else {
      check(none_counted, "capacity: " + names[i] + " never runs: " + values[0].not_counted);
    }
  }
  print_table("Capacity: one group per row, its first event shown", rows);
  return capacity;
}

// Part 2: the default groups, fitted and opened as llmk-bench --counters does.
void check_default_groups(lb::CounterSource& source, const lb::CounterCapacity& capacity,
                          uint64_t iterations) {
  const lb::SimdEvents simd = lb::simd_events_for_pmu(lb::active_core_pmu());
  const lb::GroupFit fit = lb::fit_counter_groups(lb::default_counter_groups(simd), source, capacity);
  CounterSet set(fit.groups, source, options_for(capacity));
  std::printf("\nDefault groups: %zu asked, %zu after the fit, %zu open; counted: %s\n",
              lb::default_counter_groups(simd).size(), fit.groups.size(), set.group_count(),
              set.counted_threads().c_str());
  print_lines("fit: ", fit.notes);
  print_lines("warning: ", lb::counter_warnings(set.status(), capacity));
  check(fit.notes.empty(), "default groups: every group fits as asked (2 events each)");

  const auto values = measure_loop(set, iterations);
  const double truth = 2.0 * static_cast<double>(iterations);
  print_table("Default groups, one window of the loop", rows_of(set, values, truth));
  const auto results = lb::counter_results(set.status(), values, 1.0);
  const lb::CounterMetrics metrics = lb::derive_counter_metrics(results, 1.0, simd);

  std::optional<double> cycles, instructions;
  int cycles_group = -1, instructions_group = -2;
  for (size_t i = 0; i < values.size(); ++i) {
    const CounterValue& v = values[i];
    if (v.event == "cycles") cycles = v.count, cycles_group = v.group;
    if (v.event == "instructions") instructions = v.count, instructions_group = v.group;
    if (v.event == "cycles" || v.event == "instructions") {
      check(v.count && v.running_fraction == 1.0,
            v.event + " measured over the whole window (not multiplexed)");
    } else if (!results[i].per_op) {
      check(!results[i].status.empty() && results[i].status != "ok",
            v.event + " is n/a and says why: " + results[i].status);
    }
  }
  check(cycles_group == instructions_group, "cycles and instructions read in one group");
  if (instructions) {
    const double extra = *instructions - truth;
    char text[160];
    std::snprintf(text, sizeof text,
                  "instructions = 2 x %" PRIu64
                  " iterations + %.0f (window overhead allowed: 0..%.0f)",
                  iterations, extra, kWindowOverheadInstructions);
    check(extra >= 0 && extra <= kWindowOverheadInstructions, text);
  }
  char text[200];
  std::snprintf(text, sizeof text, "IPC (derive_counter_metrics) = %s (1.0 by construction under -icount)",
                metrics.ipc ? std::to_string(*metrics.ipc).c_str() : "n/a");
  check(metrics.ipc && std::fabs(*metrics.ipc - 1.0) <= kIpcTolerance, text);
  std::printf("metrics: IPC %s; cache miss rate %s; L1D miss rate %s; branch miss rate %s; "
              "SIMD share %s\n",
              metrics.ipc ? std::to_string(*metrics.ipc).c_str() : "n/a",
              metrics.cache_miss_rate ? "measured" : "n/a", metrics.l1d_miss_rate ? "measured" : "n/a",
              metrics.branch_miss_rate ? "measured" : "n/a",
              metrics.simd_share ? "measured" : simd.describe().c_str());
  // The probe is built without libpfm4, so no PMU is named and no vector
  // event is known: the share must read n/a with that reason.
  check(!lb::built_with_libpfm() && simd.vector_events.empty() && !metrics.simd_share &&
            simd.describe() == "n/a: no PMU known: built without libpfm4",
        "SIMD share " + simd.describe());
}

// Part 3: ten single-event groups, more than the free counters.
void check_multiplexed(lb::CounterSource& source, const lb::CounterCapacity& capacity,
                       uint64_t iterations) {
  const std::vector<EventGroup> wanted(10, EventGroup{"instructions"});
  const lb::GroupFit fit = lb::fit_counter_groups(wanted, source, capacity);
  CounterSet set(fit.groups, source, options_for(capacity));
  const auto warnings = lb::counter_warnings(set.status(), capacity);
  const auto values = measure_loop(set, iterations);
  const double truth = 2.0 * static_cast<double>(iterations);

  double fraction_sum = 0;
  for (const CounterValue& v : values) {
    if (!v.count) {
      check(false, "group " + std::to_string(v.group) + " was never counted: " + v.not_counted);
      continue;
    }
    fraction_sum += v.running_fraction;
    char text[160];
    std::snprintf(text, sizeof text,
                  "group %d: counted %.1f%% of the window (below 100%%), scaled count within "
                  "%.1f%% of the exact one (%+.4f%%)",
                  v.group, 100.0 * v.running_fraction, 100.0 * kScaledRelativeTolerance,
                  100.0 * (*v.count - truth) / truth);
    check(v.running_fraction > 0 && v.running_fraction < 1 &&
              within(v.count, truth, kScaledRelativeTolerance),
          text);
  }
  char title[200];
  std::snprintf(title, sizeof title,
                "10 single-event groups (instructions) on %d free counters (multiplexed; counted "
                "fractions sum to %.3f)",
                capacity.free_counters.value_or(-1), fraction_sum);
  print_table(title, rows_of(set, values, truth));
  print_lines("warning: ", warnings);
  check(fit.groups.size() == 10 && set.group_count() == 10, "10 groups after the fit, 10 open");
  check(capacity.free_counters &&
            std::fabs(fraction_sum - *capacity.free_counters) <= kFractionSumTolerance,
        "the counted fractions sum to the free counters: " + std::to_string(fraction_sum));
  check(std::any_of(warnings.begin(), warnings.end(),
                    [](const std::string& w) { return w.find("multiplexes") != std::string::npos; }),
        "the one-time warnings say the kernel multiplexes");
}

// Part 4: one group of more events than counters, as asked and after the fit.
void check_oversized_group(lb::CounterSource& source, const lb::CounterCapacity& capacity,
                           int kernel_counters, uint64_t iterations) {
  EventGroup group;
  for (int i = 0; i <= kernel_counters; ++i) group.push_back(i % 2 == 0 ? "cycles" : "instructions");
  const std::vector<EventGroup> wanted = {group};
  const double truth = 2.0 * static_cast<double>(iterations);
  const std::string n = std::to_string(group.size());
  {
    CounterSet set(wanted, source, options_for(capacity));
    const auto values = measure_loop(set, iterations);
    const auto results = lb::counter_results(set.status(), values, 1.0);
    print_table(n + " events asked as one group on " + std::to_string(kernel_counters) +
                    " counters, without the fit (" + std::to_string(set.group_count()) + " open)",
                rows_of(set, values, truth));
    const std::string reason = lb::not_scheduled_reason(group.size(), capacity.free_counters);
    bool all_na = set.group_count() == 1;
    for (size_t i = 0; i < values.size(); ++i) {
      all_na = all_na && !values[i].count && !results[i].per_op && results[i].status == reason &&
               set.status()[i].state == lb::CounterState::kOk;
    }
    check(all_na, "the one group of " + n + " events opens, never runs, and every event reads n/a (\"" +
                      reason + "\"), never 0");
  }
  const lb::GroupFit fit = lb::fit_counter_groups(wanted, source, capacity);
  print_lines("fit: ", fit.notes);
  CounterSet set(fit.groups, source, options_for(capacity));
  const auto values = measure_loop(set, iterations);
  print_table("The same " + n + " events after fit_counter_groups (" +
                  std::to_string(set.group_count()) + " groups)",
              rows_of(set, values, truth));
  bool pieces_fit = fit.groups.size() >= 2 && fit.notes.size() == 1;
  for (const EventGroup& g : fit.groups)
    pieces_fit = pieces_fit && static_cast<int>(g.size()) <= capacity.free_counters.value_or(0);
  check(pieces_fit, "fit_counter_groups split it into " + std::to_string(fit.groups.size()) +
                        " groups of at most the free counters, with one note");
  for (size_t i = 0; i < values.size(); ++i) {
    const CounterValue& v = values[i];
    char text[200];
    std::snprintf(text, sizeof text,
                  "after the fit, event %zu (%s, group %d): counted %.1f%%, within %.1f%% of the "
                  "exact count (%+.4f%%)",
                  i, v.event.c_str(), v.group, 100.0 * v.running_fraction,
                  100.0 * kScaledRelativeTolerance,
                  v.count ? 100.0 * (*v.count - truth) / truth : 0.0);
    check(within(v.count, truth, kScaledRelativeTolerance), text);
  }
}

// Part 5: worker threads started after the set opens, as in a threaded entry.
void check_inherit(lb::CounterSource& source, const lb::CounterCapacity& capacity,
                   uint64_t iterations) {
  const std::vector<EventGroup> groups = {{"cycles", "instructions"}};
  CounterSet inherited(groups, source, options_for(capacity, /*inherit=*/true));
  CounterSet own(groups, source, options_for(capacity));
  const double per_thread = 2.0 * static_cast<double>(iterations);
  auto run_threads = [iterations](int threads) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([iterations] { count_down(iterations); });
    for (std::thread& w : workers) w.join();
  };
  std::printf("\nInherit: counted %s vs %s\n\n", inherited.counted_threads().c_str(),
              own.counted_threads().c_str());
  std::printf("| worker threads | set | cycles | instructions | expected instructions | error |\n");
  std::printf("| ---: | --- | ---: | ---: | ---: | ---: |\n");
  std::optional<double> one_thread;
  for (int threads : {1, 2}) {
    const auto values = measure({&inherited, &own}, [&] { run_threads(threads); });
    const double truth = threads * per_thread;
    for (int s = 0; s < 2; ++s) {
      const auto& v = values[static_cast<size_t>(s)];
      const bool with_truth = s == 0 && v[1].count;
      std::printf("| %d | %s | %s | %s | %s | %s |\n", threads,
                  s == 0 ? "inherit" : "measuring thread", format_count(v[0].count).c_str(),
                  format_count(v[1].count).c_str(), s == 0 ? format_count(truth).c_str() : "-",
                  with_truth ? percent((*v[1].count - truth) / truth, "%+.4f%%").c_str() : "-");
    }
    const std::optional<double> summed = values[0][1].count, measuring = values[1][1].count;
    char text[240];
    std::snprintf(text, sizeof text,
                  "inherit, %d thread(s): instructions = %d x 2 x %" PRIu64
                  " + %.0f (thread start and join allowed: 0..%.0f)",
                  threads, threads, iterations, summed ? *summed - truth : -1.0,
                  kThreadOverheadInstructions);
    check(summed && *summed >= truth && *summed - truth <= kThreadOverheadInstructions, text);
    std::snprintf(text, sizeof text,
                  "without inherit, %d thread(s): the measuring thread's own %s instructions "
                  "(at most %.0f)",
                  threads, format_count(measuring).c_str(), kThreadOverheadInstructions);
    check(measuring && *measuring > 0 && *measuring <= kThreadOverheadInstructions, text);
    if (threads == 1) one_thread = summed;
    if (threads == 2 && summed && one_thread) {
      std::snprintf(text, sizeof text,
                    "inherit: 2 threads count %.6f x one thread's (2x within %.0f instructions)",
                    *summed / *one_thread, kThreadOverheadInstructions);
      check(std::fabs(*summed - 2 * *one_thread) <= kThreadOverheadInstructions, text);
    }
  }
  std::printf("\n");
  check(inherited.counted_threads().rfind("all threads (inherit", 0) == 0 &&
            own.counted_threads() == "measuring thread",
        "counted_threads: \"" + inherited.counted_threads() + "\" and \"" +
            own.counted_threads() + "\"");
}

// Part 6: the kernel's behaviour the harness must cope with, seen through
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
  if (counters < 2 || counters > 64 || iterations < 10) {
    std::fprintf(stderr,
                 "arm64_pmu_probe: --counters must be 2..64 (the kernel's count, with the cycle "
                 "counter) and --iterations >= 10\n");
    return 2;
  }
  std::printf("arm64_pmu_probe: %" PRIu64 " iterations of (subs, b.ne) = %" PRIu64
              " instructions per window, %" PRIu64 " counters (kernel); built %s libpfm4\n",
              iterations, 2 * iterations, counters, lb::built_with_libpfm() ? "with" : "without");
  auto source = lb::make_system_counter_source();
  const int kernel_counters = static_cast<int>(counters);
  const lb::CounterCapacity capacity = check_capacity(*source, kernel_counters, iterations);
  check_default_groups(*source, capacity, iterations);
  check_multiplexed(*source, capacity, iterations);
  check_oversized_group(*source, capacity, kernel_counters, iterations);
  check_inherit(*source, capacity, iterations);
  check_kernel_oversized_group(iterations, kernel_counters);
  std::printf("\nPROBE %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}
