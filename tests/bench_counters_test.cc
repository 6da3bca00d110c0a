// Perf counters on a scripted kernel that behaves as perf_event_open does
// (a group with more hardware events than free counters opens and enables
// fine and never runs; groups that fit share the counters when together they
// need more; errnos as the kernel gives them), the pure arithmetic of derived
// metrics, the per-PMU SIMD events against libpfm4's own tables, threaded
// counting with inherited software events for real, and the reports.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "llmk/target.h"
#include "llmk/thread_pool.h"
#include "harness/perf_counters.h"
#include "report/report.h"
#include "test_util.h"

namespace llmk::bench {
namespace {

// A scripted kernel PMU with `free_counters` hardware counters for this
// thread. Software events need none. A group whose hardware events exceed
// the free counters is accepted by open() and enable() and never runs, as the
// kernel validates groups against an empty PMU. Groups that fit are rotated
// when together they need more counters: over a stretch of dt each runs
// dt · free / needed (the kernel's round-robin, averaged).
class ScriptedKernel final : public CounterSource {
 public:
  int free_counters = 4;
  std::map<std::string, int> open_errno;        // event → errno of every open
  bool reject_inherited_group_read = false;     // EINVAL for inherit + PERF_FORMAT_GROUP
  std::map<std::string, uint64_t> rate;         // counts per ns running (default 1)
  uint64_t trial_ns = 10'000;

  struct OpenCall {
    std::string event;
    bool inherit = false;
    bool disabled = false;
    uint64_t read_format = 0;
    int group_fd = -1;
  };
  std::vector<OpenCall> opens;  // successful opens, in order
  std::vector<int> closed;
  std::vector<int> enabled_leaders;

  void advance(uint64_t dt) {
    int needed = 0;
    for (const auto& [leader, g] : groups_) {
      const int hw = hardware_events(g);
      if (g.enabled && hw <= free_counters) needed += hw;
    }
    for (auto& [leader, g] : groups_) {
      if (!g.enabled) continue;
      g.time_enabled += dt;
      const int hw = hardware_events(g);
      uint64_t ran = 0;
      if (hw > free_counters) {
        ran = 0;  // never fits
      } else if (hw == 0 || needed <= free_counters) {
        ran = dt;
      } else {
        ran = dt * static_cast<uint64_t>(free_counters) / static_cast<uint64_t>(needed);
      }
      g.time_running += ran;
      for (int fd : g.members) {
        const auto r = rate.find(events_[fd].name);
        events_[fd].value += ran * (r == rate.end() ? 1 : r->second);
      }
    }
  }

  int encode(const std::string& event, perf_event_attr* attr) override {
    pending_ = event;
    if (encode_generic_event(event, attr)) return 0;
    if (event.find("::") != std::string::npos) {  // a libpfm4 PMU event: a raw encoding
      std::memset(attr, 0, sizeof *attr);
      attr->size = sizeof *attr;
      attr->type = PERF_TYPE_RAW;
      attr->config = std::hash<std::string>()(event) & 0xffff;
      return 0;
    }
    return -ENOENT;
  }
  int open(perf_event_attr* attr, int group_fd) override {
    if (auto it = open_errno.find(pending_); it != open_errno.end()) return -it->second;
    if (reject_inherited_group_read && attr->inherit && (attr->read_format & PERF_FORMAT_GROUP)) {
      return -EINVAL;
    }
    if (group_fd >= 0 && !groups_.count(group_fd)) return -EBADF;
    const int fd = next_fd_++;
    events_[fd] = {pending_, attr->type != PERF_TYPE_SOFTWARE, 0};
    if (group_fd < 0) {
      groups_[fd].members = {fd};
      groups_[fd].group_format = (attr->read_format & PERF_FORMAT_GROUP) != 0;
    } else {
      groups_[group_fd].members.push_back(fd);
    }
    opens.push_back({pending_, attr->inherit != 0, attr->disabled != 0, attr->read_format, group_fd});
    return fd;
  }
  ssize_t read(int fd, void* buf, size_t bytes) override {
    const auto it = groups_.find(fd);
    if (it == groups_.end()) return -EBADF;
    const Group& g = it->second;
    std::vector<uint64_t> words;
    if (g.group_format) {
      words = {g.members.size(), g.time_enabled, g.time_running};
      for (int m : g.members) words.push_back(events_[m].value);
    } else {
      words = {events_[fd].value, g.time_enabled, g.time_running};
    }
    if (bytes < words.size() * sizeof(uint64_t)) return -ENOSPC;  // the kernel's answer to a short buffer
    std::memcpy(buf, words.data(), words.size() * sizeof(uint64_t));
    return static_cast<ssize_t>(words.size() * sizeof(uint64_t));
  }
  int enable_group(int leader_fd) override {
    const auto it = groups_.find(leader_fd);
    if (it == groups_.end()) return -EBADF;
    it->second.enabled = true;
    enabled_leaders.push_back(leader_fd);
    return 0;
  }
  void close(int fd) override {
    closed.push_back(fd);
    groups_.erase(fd);
  }
  void run_trial_workload() override { advance(trial_ns); }

  size_t open_fds() const { return opens.size() - closed.size(); }

 private:
  struct Event {
    std::string name;
    bool hardware = false;
    uint64_t value = 0;
  };
  struct Group {
    std::vector<int> members;
    bool group_format = true;
    bool enabled = false;
    uint64_t time_enabled = 0, time_running = 0;
  };
  int hardware_events(const Group& g) const {
    int n = 0;
    for (int m : g.members) n += events_.at(m).hardware ? 1 : 0;
    return n;
  }
  std::string pending_;
  int next_fd_ = 100;
  std::map<int, Event> events_;
  std::map<int, Group> groups_;
};

CounterCapacity known_capacity(int free) {
  CounterCapacity c;
  c.free_counters = free;
  return c;
}

TEST_CASE("a group larger than the free counters opens, never runs, and is split into groups that count") {
  ScriptedKernel kernel;
  kernel.free_counters = 4;
  const std::vector<EventGroup> wanted = {
      {"cycles", "instructions", "cache-references", "cache-misses", "branches"}};

  CounterOptions options;
  options.free_counters = 4;
  {
    CounterSet set(wanted, kernel, options);
    for (const CounterStatus& st : set.status()) CHECK(st.state == CounterState::kOk);
    CHECK(set.group_count() == 1);
    CHECK(kernel.enabled_leaders.size() == 1);  // enabling succeeded too
    CounterSet::Snapshot before = set.new_snapshot(), after = set.new_snapshot();
    set.read(before);
    kernel.advance(1'000'000);
    set.read(after);
    const std::vector<CounterValue> v = set.values_between(before, after);
    REQUIRE(v.size() == 5);
    for (const CounterValue& c : v) {
      CHECK_FALSE(c.count.has_value());  // never 0: no value at all
      CHECK(c.not_counted == "not scheduled: 5 events, 4 free counters");
    }
    const std::vector<CounterResult> results = counter_results(set.status(), v, 1000.0);
    for (const CounterResult& r : results) {
      CHECK_FALSE(r.per_op.has_value());
      CHECK(r.status == "not scheduled: 5 events, 4 free counters");
    }
  }
  CHECK(kernel.open_fds() == 0);

  const GroupFit fit = fit_counter_groups(wanted, kernel, known_capacity(4));
  REQUIRE(fit.groups.size() == 2);
  CHECK(fit.groups[0] == EventGroup{"cycles", "instructions", "cache-references", "cache-misses"});
  CHECK(fit.groups[1] == EventGroup{"branches"});
  REQUIRE(fit.notes.size() == 1);
  CHECK(fit.notes[0] ==
        "{cycles, instructions, cache-references, cache-misses, branches}: not scheduled: 5 "
        "events, 4 free counters; split into {cycles, instructions, cache-references, "
        "cache-misses} {branches}");
  CHECK(kernel.open_fds() == 0);  // the trials closed what they opened

  // The pieces count; together they need 5 of 4 counters, so the kernel
  // rotates them and each runs 4/5 of the time, scaled back up.
  kernel.rate = {{"cycles", 3}, {"instructions", 7}, {"branches", 2}};
  CounterSet set(fit.groups, kernel, options);
  CHECK(set.group_count() == 2);
  CounterSet::Snapshot before = set.new_snapshot(), after = set.new_snapshot();
  set.read(before);
  kernel.advance(1'000'000);
  set.read(after);
  const std::vector<CounterValue> v = set.values_between(before, after);
  const std::map<std::string, double> truth = {{"cycles", 3e6},          {"instructions", 7e6},
                                               {"cache-references", 1e6}, {"cache-misses", 1e6},
                                               {"branches", 2e6}};
  for (const CounterValue& c : v) {
    CAPTURE(c.event);
    REQUIRE(c.count.has_value());
    CHECK(*c.count == truth.at(c.event));  // 800'000 ns counted of 1'000'000: exact in doubles
    CHECK(c.running_fraction == doctest::Approx(0.8));
  }
}

TEST_CASE("split in halves while the capacity is unknown; single events that never run stay n/a") {
  ScriptedKernel kernel;
  kernel.free_counters = 2;
  const GroupFit fit = fit_counter_groups(
      {{"cycles", "instructions", "branches", "branch-misses", "cache-misses"}}, kernel,
      CounterCapacity{});
  // 5 → {3, 2}; 3 → {2, 1}.
  REQUIRE(fit.groups.size() == 3);
  CHECK(fit.groups[0] == EventGroup{"cycles", "instructions"});
  CHECK(fit.groups[1] == EventGroup{"branches"});
  CHECK(fit.groups[2] == EventGroup{"branch-misses", "cache-misses"});
  REQUIRE(fit.notes.size() == 2);
  CHECK(fit.notes[0].find("not scheduled: 5 events, free counters unknown") != std::string::npos);

  kernel.free_counters = 0;  // every counter taken (by the NMI watchdog and others)
  const GroupFit none = fit_counter_groups({{"cycles"}, {"task-clock", "page-faults"}}, kernel,
                                           known_capacity(0));
  REQUIRE(none.groups.size() == 2);
  REQUIRE(none.notes.size() == 1);
  CHECK(none.notes[0] == "{cycles}: not scheduled: 1 event, 0 free counters; reported as n/a");

  // Events that do not open are kept as asked: the set reports their errno.
  kernel.open_errno = {{"cycles", ENOENT}, {"instructions", ENOENT}};
  const GroupFit unopened = fit_counter_groups({{"cycles", "instructions"}}, kernel, {});
  CHECK(unopened.groups == std::vector<EventGroup>{{"cycles", "instructions"}});
  CHECK(unopened.notes.empty());

  CHECK(not_scheduled_reason(8, 7) == "not scheduled: 8 events, 7 free counters");
  CHECK(not_scheduled_reason(1, 1) == "not scheduled: 1 event, 1 free counter");
}

TEST_CASE("open errors as the kernel gives them: EINVAL, EACCES with the paranoid level, ENOENT") {
  ScriptedKernel kernel;
  kernel.open_errno = {{"cycles", ENOENT}, {"instructions", ENOENT}, {"cache-misses", EACCES},
                       {"branch-misses", EINVAL}, {"L1-dcache-loads", EOPNOTSUPP}};
  CounterSet set(std::vector<EventGroup>{{"cycles", "instructions"},
                                         {"cache-references", "cache-misses"},
                                         {"branches", "branch-misses"},
                                         {"L1-dcache-loads"},
                                         {"no-such-event"}},
                 kernel, CounterOptions{});
  const std::vector<CounterStatus>& st = set.status();
  REQUIRE(st.size() == 8);
  CHECK(st[0].state == CounterState::kUnsupported);
  CHECK(st[0].reason.find("ENOENT") != std::string::npos);
  CHECK(st[1].state == CounterState::kUnsupported);
  CHECK(st[2].state == CounterState::kOk);
  CHECK(st[3].state == CounterState::kNoPermission);
  std::string paranoid;
  std::ifstream("/proc/sys/kernel/perf_event_paranoid") >> paranoid;
  if (!paranoid.empty()) {
    CHECK(st[3].reason.find("perf_event_paranoid is " + paranoid) != std::string::npos);
  }
  CHECK(st[3].reason.find("EACCES") != std::string::npos);
  CHECK(st[4].state == CounterState::kOk);
  CHECK(st[5].state == CounterState::kInvalid);
  CHECK(st[5].reason.find("EINVAL") != std::string::npos);
  CHECK(st[6].state == CounterState::kUnsupported);
  CHECK(st[6].reason.find("EOPNOTSUPP") != std::string::npos);
  CHECK(st[7].state == CounterState::kUnknownEvent);
  // cache-references and branches opened, each leading its own group.
  CHECK(set.group_count() == 2);
  CHECK(st[2].group != st[4].group);

  const std::vector<std::string> warnings = counter_warnings(st, CounterCapacity{});
  REQUIRE(warnings.size() == 5);  // one line per reason, the events named together
  CHECK(warnings[0] == "counters cycles, instructions: " + st[0].reason + "; reported as n/a");
  CHECK(warnings[1] == "counter cache-misses: " + st[3].reason + "; reported as n/a");

  CounterSet::Snapshot before = set.snapshot();
  kernel.advance(1000);
  CounterSet::Snapshot after = set.snapshot();
  const std::vector<CounterResult> results =
      counter_results(st, set.values_between(before, after), 10.0);
  for (size_t i : {0, 1, 3, 5, 6, 7}) {
    CAPTURE(i);
    CHECK_FALSE(results[i].per_op.has_value());
    CHECK(results[i].status == st[i].reason);
  }
  REQUIRE(results[2].per_op.has_value());
  CHECK(*results[2].per_op == 100.0);  // 1000 ns at 1 per ns over 10 operations
}

TEST_CASE("multiplexed default groups: scaled counts, fractions, derived metrics") {
  ScriptedKernel kernel;
  kernel.free_counters = 4;
  kernel.rate = {{"cycles", 3},        {"instructions", 6},    {"cache-references", 5},
                 {"cache-misses", 1},  {"branches", 4},        {"branch-misses", 1},
                 {"L1-dcache-loads", 8}, {"L1-dcache-load-misses", 2},
                 {"icl::FP_ARITH_INST_RETIRED:VECTOR", 3}, {"task-clock", 1}, {"page-faults", 2}};
  const SimdEvents simd = simd_events_for_pmu("icl");
  const std::vector<EventGroup> groups = default_counter_groups(simd);
  REQUIRE(groups.size() == 6);
  for (const EventGroup& g : groups) CHECK(g.size() <= 2);  // never one big group

  // Each pair fits alone: the fit keeps every group.
  const GroupFit fit = fit_counter_groups(groups, kernel, known_capacity(4));
  CHECK(fit.groups == groups);
  CHECK(fit.notes.empty());

  CounterSet set(fit.groups, kernel, CounterOptions{});
  size_t hardware = 0;
  for (const CounterStatus& st : set.status()) hardware += st.hardware ? 1 : 0;
  CHECK(hardware == 10);  // task-clock and page-faults need no counter
  CounterSet::Snapshot before = set.new_snapshot(), after = set.new_snapshot();
  set.read(before);
  kernel.advance(1'000'000);
  set.read(after);
  const std::vector<CounterValue> v = set.values_between(before, after);
  // 10 hardware events on 4 counters: each hardware group runs 40% of the time.
  for (const CounterValue& c : v) {
    CAPTURE(c.event);
    REQUIRE(c.count.has_value());
    const bool software = c.event == "task-clock" || c.event == "page-faults";
    CHECK(c.running_fraction == doctest::Approx(software ? 1.0 : 0.4));
    CHECK(*c.count == 1e6 * static_cast<double>(kernel.rate.at(c.event)));
  }
  CounterCapacity cap = known_capacity(4);
  std::vector<std::string> warnings = counter_warnings(set.status(), cap);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("counters: 10 hardware events for 4 free counters; the kernel multiplexes") == 0);
  cap.at_least = true;  // the probe found no limit: no claim to make
  CHECK(counter_warnings(set.status(), cap).empty());

  const double operations = 1000, items_per_op = 4;
  const std::vector<CounterResult> results = counter_results(set.status(), v, operations);
  const CounterMetrics m = derive_counter_metrics(results, items_per_op, simd);
  CHECK(*m.ipc == doctest::Approx(2.0));
  CHECK(*m.cycles_per_item == doctest::Approx(3e6 / operations / items_per_op));
  CHECK(*m.instructions_per_item == doctest::Approx(6e6 / operations / items_per_op));
  CHECK(*m.cache_miss_rate == doctest::Approx(0.2));
  CHECK(*m.branch_miss_rate == doctest::Approx(0.25));
  CHECK(*m.l1d_miss_rate == doctest::Approx(0.25));
  CHECK(*m.simd_share == doctest::Approx(0.5));
}

TEST_CASE("capacity probing by try-open, with the NMI watchdog") {
  ScriptedKernel kernel;
  kernel.free_counters = 6;
  CounterCapacity cap = probe_counter_capacity(kernel, 1);
  REQUIRE(cap.free_counters.has_value());
  CHECK(*cap.free_counters == 6);
  CHECK_FALSE(cap.at_least);
  CHECK(cap.probe_event == "instructions");
  CHECK(cap.description ==
        "6 free counters (a group of 7 x instructions never ran); nmi_watchdog is on and holds "
        "one counter");
  CHECK(kernel.open_fds() == 0);

  kernel.free_counters = 40;
  cap = probe_counter_capacity(kernel, 0, 8);
  CHECK(*cap.free_counters == 8);
  CHECK(cap.at_least);
  CHECK(cap.description.find("at least 8 free counters") == 0);
  CHECK(cap.description.find("nmi_watchdog off") != std::string::npos);

  // A PMU with only a cycle counter available: the probe uses cycles.
  kernel.free_counters = 1;
  kernel.open_errno = {{"instructions", ENOENT}};
  cap = probe_counter_capacity(kernel, -1);
  CHECK(cap.probe_event == "cycles");
  CHECK(*cap.free_counters == 1);

  // No PMU (this VM): unknown, saying why.
  kernel.open_errno = {{"instructions", ENOENT}, {"cycles", ENOENT}};
  cap = probe_counter_capacity(kernel, 0);
  CHECK_FALSE(cap.free_counters.has_value());
  CHECK(cap.description.find("unknown: instructions unsupported (ENOENT") == 0);
  CHECK(kernel.open_fds() == 0);

  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("llmk_nmi_" + std::to_string(getpid()));
  std::ofstream(file) << "1\n";
  CHECK(read_nmi_watchdog(file.string()) == 1);
  std::filesystem::remove(file);
  CHECK(read_nmi_watchdog(file.string()) == -1);
}

TEST_CASE("inherited counters; one event per group where the kernel refuses inherit with group reads") {
  ScriptedKernel kernel;
  CounterOptions inherit;
  inherit.inherit = true;
  {
    CounterSet set(std::vector<EventGroup>{{"task-clock", "page-faults"}}, kernel, inherit);
    CHECK(set.group_count() == 1);
    CHECK(set.counted_threads() == "all threads (inherit)");
    REQUIRE(kernel.opens.size() == 2);
    for (const auto& o : kernel.opens) CHECK(o.inherit);
    CHECK(kernel.opens[0].disabled);       // the leader waits for its members
    CHECK_FALSE(kernel.opens[1].disabled);
  }
  CHECK(CounterSet(std::vector<std::string>{"task-clock"}, kernel).counted_threads() ==
        "measuring thread");

  ScriptedKernel old_kernel;
  old_kernel.reject_inherited_group_read = true;
  old_kernel.rate = {{"task-clock", 1}, {"page-faults", 3}};
  CounterSet set(std::vector<EventGroup>{{"task-clock", "page-faults"}}, old_kernel, inherit);
  CHECK(set.group_count() == 2);
  CHECK(set.counted_threads() == "all threads (inherit, one event per group)");
  for (const auto& o : old_kernel.opens) {
    CHECK(o.inherit);
    CHECK((o.read_format & PERF_FORMAT_GROUP) == 0);
    CHECK(o.group_fd == -1);
  }
  CounterSet::Snapshot before = set.snapshot();
  old_kernel.advance(500);
  CounterSet::Snapshot after = set.snapshot();
  const std::vector<CounterValue> v = set.values_between(before, after);
  REQUIRE(v[0].count.has_value());
  REQUIRE(v[1].count.has_value());
  CHECK(*v[0].count == 500.0);
  CHECK(*v[1].count == 1500.0);
}

CounterResult counted(const char* event, double per_op, int group) {
  CounterResult c;
  c.event = event;
  c.per_op = per_op;
  c.running_fraction = 1;
  c.status = "ok";
  c.group = group;
  return c;
}
CounterResult not_run(const char* event) {
  CounterResult c;
  c.event = event;
  c.status = "unsupported (ENOENT: ...)";
  return c;
}

TEST_CASE("derived metrics: ratios within one group, n/a when an operand did not run") {
  const SimdEvents simd = simd_events_for_pmu("icl");
  const std::string vec = simd.vector_events.at(0);
  std::vector<CounterResult> c = {
      counted("cycles", 100, 0),          counted("instructions", 250, 0),
      counted("cache-references", 40, 1), counted("cache-misses", 10, 1),
      counted("branches", 50, 2),         counted("branch-misses", 0, 2),
      counted(vec.c_str(), 60, 4),        counted("instructions", 300, 4),
  };
  CounterMetrics m = derive_counter_metrics(c, 4.0, simd);
  CHECK(*m.ipc == doctest::Approx(2.5));               // group 0's instructions, not group 4's
  CHECK(*m.cycles_per_item == doctest::Approx(25.0));  // 100 per op / 4 items
  CHECK(*m.instructions_per_item == doctest::Approx(62.5));
  CHECK(*m.cache_miss_rate == doctest::Approx(0.25));
  CHECK(*m.branch_miss_rate == 0.0);                   // counted zero is a value
  CHECK_FALSE(m.l1d_miss_rate.has_value());            // operands absent
  CHECK(*m.simd_share == doctest::Approx(0.2));        // 60 / group 4's 300

  // cycles did not run: IPC and cycles per item are n/a, the rest stand.
  c[0] = not_run("cycles");
  m = derive_counter_metrics(c, 4.0, simd);
  CHECK_FALSE(m.ipc.has_value());
  CHECK_FALSE(m.cycles_per_item.has_value());
  CHECK(m.instructions_per_item.has_value());
  // A zero denominator is n/a, not infinity.
  c[2] = counted("cache-references", 0, 1);
  CHECK_FALSE(derive_counter_metrics(c, 4.0, simd).cache_miss_rate.has_value());
  // Operands split into different groups still give the ratio.
  c[0] = counted("cycles", 125, 7);
  CHECK(*derive_counter_metrics(c, 4.0, simd).ipc == doctest::Approx(2.0));
  // The vector event did not run: no SIMD share.
  c[6] = not_run(vec.c_str());
  CHECK_FALSE(derive_counter_metrics(c, 4.0, simd).simd_share.has_value());
  // No vector-op event for this PMU: no SIMD share whatever ran.
  CHECK_FALSE(derive_counter_metrics(c, 4.0, simd_events_for_pmu("arm_ac53")).simd_share);

  // Two vector events (Advanced SIMD + SVE) are summed over INST_SPEC.
  const SimdEvents n2 = simd_events_for_pmu("arm_n2");
  REQUIRE(n2.vector_events.size() == 2);
  std::vector<CounterResult> arm = {counted(n2.vector_events[0].c_str(), 30, 0),
                                    counted(n2.vector_events[1].c_str(), 20, 0),
                                    counted(n2.base_event.c_str(), 200, 0)};
  CHECK(*derive_counter_metrics(arm, 1.0, n2).simd_share == doctest::Approx(0.25));
  arm[1] = not_run(n2.vector_events[1].c_str());  // a partial sum would understate
  CHECK_FALSE(derive_counter_metrics(arm, 1.0, n2).simd_share.has_value());
}

TEST_CASE("SIMD events per PMU, checked against libpfm4's own tables") {
  const SimdEvents icl = simd_events_for_pmu("icl");
  CHECK(icl.vector_events == std::vector<std::string>{"icl::FP_ARITH_INST_RETIRED:VECTOR"});
  CHECK(icl.base_event == "instructions");
  CHECK(icl.describe().find("icl::FP_ARITH_INST_RETIRED:VECTOR / instructions") == 0);
  const SimdEvents zen4 = simd_events_for_pmu("amd64_fam19h_zen4");
  REQUIRE(zen4.vector_events.size() == 1);
  CHECK(zen4.vector_events[0].find("RETIRED_FP_OPS_BY_WIDTH") != std::string::npos);
  CHECK(simd_events_for_pmu("arm_n1").base_event == "arm_n1::INST_SPEC");
  const SimdEvents a53 = simd_events_for_pmu("arm_ac53");
  CHECK(a53.vector_events.empty());
  CHECK(a53.reason == "no vector-op event known for PMU arm_ac53");
  CHECK(a53.describe() == "n/a: no vector-op event known for PMU arm_ac53");
  CHECK(simd_events_for_pmu("").reason.find("no PMU") == 0);
  // Without a vector event the default groups have no SIMD group.
  CHECK(default_counter_groups(a53).size() == 5);

  if (!built_with_libpfm()) {
    test::skip("built without libpfm4: event names cannot be checked");
    return;
  }
  // libpfm4 lists every PMU it supports for this architecture, present or
  // not; each table entry for those must name events and umasks it has.
#if defined(__aarch64__)
  const std::string arch_prefix = "arm_";
#else
  const std::string arch_prefix = "";
#endif
  size_t checked = 0;
  for (const std::string& pmu : simd_table_pmus()) {
    const bool arm = pmu.rfind("arm_", 0) == 0;
    if (arm != !arch_prefix.empty()) continue;
    const SimdEvents s = simd_events_for_pmu(pmu);
    std::vector<std::string> names = s.vector_events;
    if (s.base_event.find("::") != std::string::npos) names.push_back(s.base_event);
    for (const std::string& name : names) {
      CAPTURE(name);
      CHECK(libpfm_knows_event(name));
      ++checked;
    }
  }
  CHECK(checked >= 10);
#if !defined(__aarch64__)
  CHECK_FALSE(libpfm_knows_event("icl::FP_ARITH_INST_RETIRED:NO_SUCH_UMASK"));
  CHECK_FALSE(libpfm_knows_event("icl::NO_SUCH_EVENT"));
  CHECK_FALSE(libpfm_knows_event("FP_ARITH_INST_RETIRED"));  // no PMU named
#endif
}

// Writes one byte per 4 KiB page. Not instrumented: under ASan each store
// would first read its shadow byte, and the shadow's own first-touch faults
// would be counted with the pages'.
__attribute__((no_sanitize("address"), noinline)) void touch_pages(char* mem, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 4096) static_cast<volatile char*>(mem)[off] = 1;
}

TEST_CASE("inherited counters opened before the threads start count both workers' page faults") {
  auto source = make_system_counter_source();
  CounterOptions inherit;
  inherit.inherit = true;
  CounterSet all_threads(std::vector<EventGroup>{{"task-clock", "page-faults"}}, *source, inherit);
  CounterSet this_thread(std::vector<EventGroup>{{"task-clock", "page-faults"}}, *source,
                         CounterOptions{});
  for (const CounterSet* set : {&all_threads, &this_thread}) {
    for (const CounterStatus& st : set->status()) {
      if (st.state != CounterState::kOk) {
        test::skip("software perf events unavailable here: " + st.reason);
        return;
      }
    }
  }
  CHECK(all_threads.counted_threads().find("all threads (inherit") == 0);

  constexpr size_t kBytesPerThread = size_t{32} << 20;
  std::vector<char*> regions;
  for (int t = 0; t < 2; ++t) {
    void* mem = mmap(nullptr, kBytesPerThread, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    REQUIRE(madvise(mem, kBytesPerThread, MADV_NOHUGEPAGE) == 0);  // one fault per 4 KiB page
    regions.push_back(static_cast<char*>(mem));
  }
  CounterSet::Snapshot all_before = all_threads.new_snapshot(), all_after = all_threads.new_snapshot();
  CounterSet::Snapshot own_before = this_thread.new_snapshot(), own_after = this_thread.new_snapshot();
  std::atomic<int> ready{0}, go{0}, done{0}, quit{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&, t] {
      // The same call depth once first, so the stack pages the real touch
      // uses are already there.
      char warm[2 * 4096];
      touch_pages(warm, sizeof warm);
      ready.fetch_add(1);
      while (go.load() == 0) {
      }
      touch_pages(regions[static_cast<size_t>(t)], kBytesPerThread);
      done.fetch_add(1);
      while (quit.load() == 0) {
      }
    });
  }
  while (ready.load() != 2) {
  }
  // Between the reads this thread only spins: no allocation, no faults.
  all_threads.read(all_before);
  this_thread.read(own_before);
  go.store(1);
  while (done.load() != 2) {
  }
  all_threads.read(all_after);
  this_thread.read(own_after);
  quit.store(1);
  for (std::thread& w : workers) w.join();
  for (char* r : regions) munmap(r, kBytesPerThread);

  const std::vector<CounterValue> all = all_threads.values_between(all_before, all_after);
  const std::vector<CounterValue> own = this_thread.values_between(own_before, own_after);
  REQUIRE(all[1].count.has_value());
  REQUIRE(own[1].count.has_value());
  CHECK(*all[1].count == 2.0 * kBytesPerThread / 4096);  // 16384: both workers, exactly
  CHECK(*own[1].count == 0.0);                           // the measuring thread touched nothing
  REQUIRE(all[0].count.has_value());
  REQUIRE(own[0].count.has_value());
  CHECK(*all[0].count > *own[0].count);  // task-clock: the workers' CPU time is in it
}

// Touches a fresh 1 MiB mapping: 256 first-touch page faults.
__attribute__((no_sanitize("address"), noinline)) void fault_one_mib() {
  constexpr size_t kBytes = size_t{1} << 20;
  void* mem = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  madvise(mem, kBytes, MADV_NOHUGEPAGE);
  touch_pages(static_cast<char*>(mem), kBytes);
  munmap(mem, kBytes);
}

TEST_CASE("the runner counts a threaded entry's workers, and hardware counters without a PMU are n/a with a reason") {
  BenchmarkSpec threaded;
  threaded.name = "test/faults/threads:2";
  threaded.threads = 2;
  threaded.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto pool = std::make_shared<ThreadPool>(2);
    return BatchFn([pool](uint64_t count) {
      for (uint64_t i = 0; i < count; ++i) {
        pool->parallel_for(0, 2, [](size_t, size_t) { fault_one_mib(); });
      }
      return absl::OkStatus();
    });
  };
  BenchmarkConfig config;
  config.counters = true;
  config.measurement_iterations = 10;
  config.warmup_iterations = 2;
  config.min_sample_time_s = 1e-4;
  config.max_time_s = 0.5;
  config.progress = false;
  const std::vector<BenchmarkSpec> specs = {threaded};
  auto result = run_benchmarks(specs, config);
  REQUIRE(result.ok());
  REQUIRE(result->results.size() == 1);
  const BenchmarkResult& r = result->results[0];
  if (!r.skipped.empty()) {
    test::skip("threaded entry skipped: " + r.skipped);
    return;
  }
  CHECK_FALSE(result->counter_capacity.empty());
  CHECK_FALSE(result->simd_events.empty());
  CHECK(r.counted_threads.find("all threads (inherit") == 0);
  CHECK(r.vector_bytes >= 1);
  CHECK(r.vector_bytes == current_vector_bytes());
  bool saw_page_faults = false;
  std::string page_faults_missing;  // why, when software events cannot open (qemu-user: ENOSYS)
  for (const CounterResult& c : r.counters) {
    CAPTURE(c.event);
    if (c.event == "page-faults" && !c.per_op) page_faults_missing = c.status;
    // Counted, or n/a with the reason; never a silent 0.
    CHECK((c.per_op.has_value() || (!c.status.empty() && c.status != "ok")));
    if (c.event == "page-faults" && c.per_op) {
      saw_page_faults = true;
      // Two tasks of 256 faults per operation, run by the worker and the
      // measuring thread in whichever split: only a sum over both threads
      // reads 512 on every operation.
      CHECK(*c.per_op == 512.0);
    }
  }
  if (!page_faults_missing.empty()) {
    test::skip("software perf events unavailable here: page-faults " + page_faults_missing);
    return;
  }
  CHECK(saw_page_faults);
}

TEST_CASE("the vector width follows the dispatched target") {
  test::for_each_target([](const std::string& target) {
    const size_t bytes = current_vector_bytes();
    if (target.rfind("AVX3", 0) == 0) {
      CHECK(bytes == 64);
    } else if (target == "AVX2") {
      CHECK(bytes == 32);
    } else if (target.rfind("SSE", 0) == 0 || target == "SSSE3" || target == "EMU128" ||
               target == "NEON" || target == "NEON_WITHOUT_AES" || target == "SVE2_128") {
      CHECK(bytes == 16);
    } else if (target == "SCALAR") {
      CHECK(bytes == 1);  // one uint8_t lane
    } else {
      CHECK(bytes >= 16);  // scalable: the hardware's length
    }
  });
}

TEST_CASE("--counters takes groups joined by '+'") {
  auto o = parse_cli({"--counters=cycles+instructions,task-clock,page-faults"});
  REQUIRE(o.ok());
  CHECK(o->config.counters);
  CHECK(o->config.counter_events ==
        std::vector<std::string>{"cycles+instructions", "task-clock", "page-faults"});
  auto groups = parse_counter_groups(o->config.counter_events);
  REQUIRE(groups.ok());
  CHECK(*groups == std::vector<EventGroup>{{"cycles", "instructions"}, {"task-clock"}, {"page-faults"}});
  auto bad = parse_cli({"--counters", "cycles++instructions"});
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("--counters") != std::string::npos);
  CHECK(std::string(cli_usage()).find("joined by '+'") != std::string::npos);
}

SuiteResult counters_suite() {
  SuiteResult suite;
  suite.timer = "tsc";
  suite.governor = "unknown";
  suite.energy_source = "n/a";
  suite.counter_capacity = "4 free counters (a group of 5 x instructions never ran); nmi_watchdog off";
  suite.simd_events = "n/a: no vector-op event known for PMU arm_ac53";
  BenchmarkResult r;
  r.name = "ops/dot/384/threads:2";
  r.target = "AVX2";
  r.vector_bytes = 32;
  r.threads = 2;
  r.items_per_op = 2;
  r.batch_size = 10;
  r.samples_ns = {10, 11, 12};
  r.total_ops = 30;
  r.stats = compute_stats(r.samples_ns);
  r.counted_threads = "all threads (inherit, one event per group)";
  r.counters = {counted("cycles", 100, 0), counted("instructions", 250, 0),
                not_run("cache-references"), not_run("cache-misses"),
                counted("instructions", 260, 3)};
  r.counters[0].running_fraction = 0.4;
  r.counter_metrics = derive_counter_metrics(r.counters, r.items_per_op, SimdEvents{});
  suite.results.push_back(r);
  return suite;
}

TEST_CASE("reports: derived metrics beside the timing, n/a left out of JSON and empty in CSV") {
  const SuiteResult suite = counters_suite();
  auto doc = parse_json(format_json(suite));
  REQUIRE(doc.ok());
  const JsonValue* llmk_context = doc->find("context")->find("llmk");
  CHECK(llmk_context->find("counter_capacity")->string == suite.counter_capacity);
  CHECK(llmk_context->find("simd_events")->string == suite.simd_events);
  const JsonValue& b = doc->find("benchmarks")->array.at(0);
  CHECK(b.find("ipc")->number == doctest::Approx(2.5));
  CHECK(b.find("cycles_per_item")->number == doctest::Approx(50.0));
  CHECK(b.find("instructions_per_item")->number == doctest::Approx(125.0));
  CHECK(b.find("cache_miss_rate") == nullptr);  // operands did not run
  CHECK(b.find("simd_share") == nullptr);
  CHECK(b.find("cache-references") == nullptr);
  CHECK(b.find("instructions")->number == 250);  // the first group's, once
  const JsonValue* llmk = b.find("llmk");
  CHECK(llmk->find("vector_bytes")->number == 32);
  CHECK(llmk->find("counted_threads")->string == suite.results[0].counted_threads);
  const JsonValue* status = llmk->find("counter_status");
  REQUIRE(status->array.size() == 5);
  CHECK(status->array[0].find("running_fraction")->number == doctest::Approx(0.4));
  CHECK(status->array[0].find("group")->number == 0);
  CHECK(status->array[4].find("group")->number == 3);
  CHECK(status->array[2].find("running_fraction") == nullptr);
  CHECK(status->array[2].find("status")->string == "unsupported (ENOENT: ...)");

  const std::string csv = format_csv(suite);
  const size_t eol = csv.find('\n');
  const std::string header = csv.substr(0, eol);
  CHECK(header.find(",vector_bytes,counted_threads,ipc,cycles_per_item,instructions_per_item,"
                    "cache_miss_rate,l1d_miss_rate,branch_miss_rate,simd_share") !=
        std::string::npos);
  const std::string row = csv.substr(eol + 1, csv.find('\n', eol + 1) - eol - 1);
  CHECK(row.find(",32,all threads (inherit; one event per group),2.5,50,125,,,,") !=
        std::string::npos);
  auto columns = [](const std::string& line) { return std::count(line.begin(), line.end(), ','); };
  CHECK(columns(header) == columns(row));

  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  REQUIRE(out);
  print_counters(suite, out);
  std::fclose(out);
  const std::string console(text, size);
  std::free(text);
  CHECK(console.find("hardware counters: 4 free counters") != std::string::npos);
  CHECK(console.find("SIMD share: n/a: no vector-op event known for PMU arm_ac53") != std::string::npos);
  CHECK(console.find("AVX2") != std::string::npos);
  CHECK(console.find("32 B") != std::string::npos);
  CHECK(console.find("2.50") != std::string::npos);                 // IPC
  CHECK(console.find("cycles 50 (40%)") != std::string::npos);      // per item, counted fraction
  CHECK(console.find("cache-references n/a") != std::string::npos);
  CHECK(console.find("all threads (inherit, one event per group)") != std::string::npos);
  CHECK(console.find("cache-references, cache-misses: unsupported (ENOENT: ...)") !=
        std::string::npos);
}

}  // namespace
}  // namespace llmk::bench
