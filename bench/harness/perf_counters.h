// Hardware and software event counters through perf_event_open, event names
// encoded by libpfm4 (when built with it) or by a built-in table of the
// kernel's generic events.
//
// Nothing here fails a run: every event keeps a status (opened, or why not
// with the errno), and a counter that did not run has no value at all (the
// reports print n/a, never 0).
//
// Events open in small groups, one per derived metric (cycles with
// instructions, cache references with misses, ...): the kernel schedules a
// group all or nothing and accepts a group larger than the free hardware
// counters, which then never runs. So the free capacity is probed at start-up
// (try-open), a group is tried alone before use and split when it never ran,
// and when the groups together need more counters than exist the kernel
// multiplexes them: counts are scaled by time_enabled / time_running and the
// fraction counted is kept.
//
// Threaded entries open the events with `inherit` before the entry's threads
// start, so a read sums every thread created afterwards.
//
// The kernel calls go through CounterSource so tests can script errnos,
// unschedulable groups and multiplexing; the arithmetic (read-format parsing,
// scaling, deltas, derived metrics) is pure.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/bench.h"

namespace llmk::bench {

// Events the kernel schedules together (all or nothing), so their ratios
// come from the same stretch of execution.
using EventGroup = std::vector<std::string>;

// What counts vector operations on one PMU, as libpfm4 names it.
struct SimdEvents {
  std::string pmu;                         // libpfm4's name, e.g. "icl"; empty: none found
  std::vector<std::string> vector_events;  // summed; empty: none known (see reason)
  std::string base_event;                  // the denominator: "instructions", "arm_n1::INST_SPEC"
  std::string counts;                      // what the share means, for the report
  std::string reason;                      // why there is none, when vector_events is empty
  // "icl::FP_ARITH_INST_RETIRED:VECTOR / instructions (...)" or "n/a: <reason>".
  std::string describe() const;
};
// The per-PMU table; pmu is libpfm4's PMU name ("" when none is active).
SimdEvents simd_events_for_pmu(const std::string& pmu);
// PMU names the table has an entry for (for tests against libpfm4's tables).
std::vector<std::string> simd_table_pmus();
// Whether this build encodes event names with libpfm4.
bool built_with_libpfm();
// libpfm4's name of the active core PMU ("icl", "amd64_fam19h_zen4",
// "arm_n1"); "" when libpfm4 recognises none or the build has no libpfm4.
std::string active_core_pmu();
// True when libpfm4's tables have "pmu::EVENT[:UMASK...]" (every umask
// checked); the PMU need not be the active one. False without libpfm4.
bool libpfm_knows_event(const std::string& qualified_name);

// One group per derived metric: cycles + instructions, cache references +
// misses, branches + mispredicts, L1D loads + misses, the vector-op events +
// their base (when the PMU has them), and a software group (task-clock,
// page-faults) that needs no hardware counter.
std::vector<EventGroup> default_counter_groups(const SimdEvents& simd);
// --counters=LIST entries: each entry is a group, its events joined by '+'
// ("cycles+instructions"). An error names the entry with an empty event.
absl::StatusOr<std::vector<EventGroup>> parse_counter_groups(const std::vector<std::string>& entries);
// "{cycles, instructions}"
std::string describe_group(const EventGroup& group);

enum class CounterState {
  kOk,
  kUnknownEvent,   // the name could not be encoded
  kUnsupported,    // ENOENT / EOPNOTSUPP / ENODEV: no PMU, or this event is not available
  kNoPermission,   // EACCES / EPERM: perf_event_paranoid or capabilities
  kInvalid,        // EINVAL: the attribute was rejected
  kNoCounters,     // ENOSPC even in a group of its own
  kError,          // anything else
};

// What an open() errno means for the user.
CounterState classify_open_errno(int err);
const char* counter_state_name(CounterState state);
// "unsupported (ENOENT: no PMU, or the event is not available here)" etc.
std::string describe_open_failure(int err);

// The kernel side, scriptable in tests. Calls return ≥ 0 on success and
// −errno on failure.
class CounterSource {
 public:
  virtual ~CounterSource() = default;
  virtual int encode(const std::string& event, perf_event_attr* attr) = 0;
  virtual int open(perf_event_attr* attr, int group_fd) = 0;  // fd
  virtual ssize_t read(int fd, void* buf, size_t bytes) = 0;
  // Starts a whole group counting at once (PERF_EVENT_IOC_ENABLE with
  // PERF_IOC_FLAG_GROUP on its leader).
  virtual int enable_group(int leader_fd) = 0;
  virtual void close(int fd) = 0;
  // A little work between enabling a trial group and reading it (a spin of
  // some microseconds); a scripted kernel advances its clock instead.
  virtual void run_trial_workload();
};
// perf_event_open for the calling thread on any CPU (pid 0, cpu −1).
std::unique_ptr<CounterSource> make_system_counter_source();

// The generic-event table used without libpfm4 (and for names libpfm4 does
// not know): "cycles", "instructions", ..., "task-clock", "page-faults", ...
// False for a name it does not know.
bool encode_generic_event(const std::string& event, perf_event_attr* attr);

// One PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING read.
struct GroupReading {
  uint64_t time_enabled = 0;
  uint64_t time_running = 0;
  std::vector<uint64_t> values;
};
// Parses {nr, time_enabled, time_running, value[nr]}; an error when the
// buffer is short or nr differs from expected_events.
absl::StatusOr<GroupReading> parse_group_read(std::span<const uint8_t> buffer,
                                              size_t expected_events);
// Parses a single event's {value, time_enabled, time_running} (no
// PERF_FORMAT_GROUP) into a one-value reading.
absl::StatusOr<GroupReading> parse_single_read(std::span<const uint8_t> buffer);
// later − earlier, field by field (counters only grow).
GroupReading reading_delta(const GroupReading& earlier, const GroupReading& later);
// raw · enabled / running; nullopt when the group never ran (running = 0).
std::optional<double> scale_count(uint64_t raw, uint64_t time_enabled, uint64_t time_running);

// "not scheduled: 8 events, 7 free counters" (capacity unknown: "free
// counters unknown").
std::string not_scheduled_reason(size_t events, std::optional<int> free_counters);

// Free hardware counters for this thread, found by try-open: k copies of a
// hardware event in one group, enabled over a little work, k grown until the
// group reads time_running = 0.
struct CounterCapacity {
  std::optional<int> free_counters;  // nullopt: unknown (no hardware event opens)
  bool at_least = false;             // every size probed ran: free_counters is a lower bound
  int nmi_watchdog = -1;             // /proc/sys/kernel/nmi_watchdog; −1: unreadable
  std::string probe_event;           // the event the probe used
  std::string description;           // one line for the report
};
// /proc/sys/kernel/nmi_watchdog as a number; −1 when it cannot be read.
int read_nmi_watchdog(const std::string& path = "/proc/sys/kernel/nmi_watchdog");
CounterCapacity probe_counter_capacity(CounterSource& source, int nmi_watchdog,
                                       int max_events = 16);

// The groups to open after trying each one alone: a group that opens but
// never runs (more events than free counters) is split, into chunks of the
// free capacity when known, else in halves, until each piece runs or is a
// single event.
struct GroupFit {
  std::vector<EventGroup> groups;
  std::vector<std::string> notes;  // one per split, for the warnings
};
GroupFit fit_counter_groups(const std::vector<EventGroup>& wanted, CounterSource& source,
                            const CounterCapacity& capacity);

struct CounterStatus {
  std::string event;
  CounterState state = CounterState::kError;
  int err = 0;          // errno of the failed call, 0 when ok
  std::string reason;   // readable, for the one-time report
  int group = -1;       // index of its group when open
  bool hardware = false;  // needs a PMU counter (not a software event)
};

struct CounterValue {
  std::string event;
  std::optional<double> count;   // scaled; nullopt: not counted
  double running_fraction = 0;   // time_running / time_enabled of its group
  int group = -1;                // the group it was read with; −1: not open
  std::string not_counted;       // why count is empty when the event was open
};

struct CounterOptions {
  // Count threads created after opening as well (summed on read): for
  // entries whose worker threads start in their setup.
  bool inherit = false;
  std::optional<int> free_counters;  // for "not scheduled" reasons
};

// The events, opened for the calling thread. Each group's leader opens
// disabled and the group is enabled once all its members are attached: the
// kernel does not schedule a member added to a group that is already
// counting until the thread is next switched in, so without this the first
// measurement reads short (a 64 MiB touch counted 10-15k of its 16384 page
// faults). Take two snapshots and difference them.
class CounterSet {
 public:
  // Each group opens as one kernel group; a member the group cannot take
  // (ENOSPC, a PMU mismatch) starts a group of its own.
  CounterSet(const std::vector<EventGroup>& groups, CounterSource& source, CounterOptions options);
  // All the events as one group.
  CounterSet(const std::vector<std::string>& events, CounterSource& source);
  ~CounterSet();
  CounterSet(const CounterSet&) = delete;
  CounterSet& operator=(const CounterSet&) = delete;

  const std::vector<CounterStatus>& status() const { return status_; }
  bool any_open() const { return !groups_.empty(); }
  size_t group_count() const { return groups_.size(); }
  // "measuring thread", "all threads (inherit)", or "all threads (inherit,
  // one event per group)" where the kernel refused inherit on a group read.
  std::string counted_threads() const;

  // Raw group reads, parsed only by values_between: reading into a sized
  // snapshot allocates nothing, so the allocator's own page faults and cache
  // traffic stay outside the measured region.
  struct Snapshot {
    std::vector<std::vector<uint64_t>> words;  // per group: the read-format buffer
    std::vector<ssize_t> bytes_read;           // per group: read()'s result (< 0: −errno)
  };
  // Storage sized for this set's groups, not yet read.
  Snapshot new_snapshot() const;
  // Reads every group into `into` (sized by new_snapshot()).
  void read(Snapshot& into);
  // new_snapshot() then read(): for use outside measured regions.
  Snapshot snapshot();
  // One value per requested event, in request order.
  std::vector<CounterValue> values_between(const Snapshot& earlier, const Snapshot& later) const;

 private:
  struct Group {
    int leader_fd = -1;
    bool group_format = true;      // false: one event read without PERF_FORMAT_GROUP
    std::vector<int> fds;          // leader first
    std::vector<size_t> events;    // indices into status_
  };
  void open_group(const EventGroup& events);
  CounterSource& source_;
  CounterOptions options_;
  bool inherit_fell_back_ = false;
  std::vector<CounterStatus> status_;
  std::vector<Group> groups_;
};

// The one-time warnings for a set: the events that did not open, grouped by
// reason ("counters cycles, instructions: unsupported (ENOENT ...); reported
// as n/a"), and a note when the open hardware events outnumber the free
// counters (the kernel will multiplex).
std::vector<std::string> counter_warnings(const std::vector<CounterStatus>& status,
                                          const CounterCapacity& capacity);

// The counters of one measurement as reported (per operation), with the
// group each was read in.
std::vector<CounterResult> counter_results(const std::vector<CounterStatus>& status,
                                           const std::vector<CounterValue>& values,
                                           double operations);
// IPC, per-item counts, miss rates and SIMD share from the counters. A ratio
// takes both operands from one group when a group has both (same stretch of
// execution), else from wherever each was counted; nullopt when an operand
// did not run or a denominator is 0.
CounterMetrics derive_counter_metrics(const std::vector<CounterResult>& counters,
                                      double items_per_op, const SimdEvents& simd);

}  // namespace llmk::bench
