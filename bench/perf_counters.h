// Hardware and software event counters for the measuring thread through
// perf_event_open, event names encoded by libpfm4 (when built with it) or by
// a built-in table of the kernel's generic events.
//
// Nothing here fails a run: every event keeps a status (opened, or why not
// with the errno), and a counter that did not run has no value at all (the
// reports print n/a, never 0). Events open in groups (one leader, read
// together with PERF_FORMAT_GROUP); an event the current group cannot take
// starts a new group. Counts are scaled by time_enabled / time_running when
// the kernel multiplexed a group, and the fraction counted is kept.
//
// The kernel calls go through CounterSource so tests can script errnos and
// multiplexing; the arithmetic (read-format parsing, scaling, deltas) is pure.
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

namespace llmk::bench {

// The default set: what the issue asks a performance engineer would look at.
std::vector<std::string> default_counter_events();

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
// later − earlier, field by field (counters only grow).
GroupReading reading_delta(const GroupReading& earlier, const GroupReading& later);
// raw · enabled / running; nullopt when the group never ran (running = 0).
std::optional<double> scale_count(uint64_t raw, uint64_t time_enabled, uint64_t time_running);

struct CounterStatus {
  std::string event;
  CounterState state = CounterState::kError;
  int err = 0;          // errno of the failed call, 0 when ok
  std::string reason;   // readable, for the one-time report
  int group = -1;       // index of its group when open
};

struct CounterValue {
  std::string event;
  std::optional<double> count;   // scaled; nullopt: not counted
  double running_fraction = 0;   // time_running / time_enabled of its group
};

// The events, opened for the calling thread. Each group's leader opens
// disabled and the group is enabled once all its members are attached: the
// kernel does not schedule a member added to a group that is already
// counting until the thread is next switched in, so without this the first
// measurement reads short (a 64 MiB touch counted 10-15k of its 16384 page
// faults). Take two snapshots and difference them.
class CounterSet {
 public:
  CounterSet(const std::vector<std::string>& events, CounterSource& source);
  ~CounterSet();
  CounterSet(const CounterSet&) = delete;
  CounterSet& operator=(const CounterSet&) = delete;

  const std::vector<CounterStatus>& status() const { return status_; }
  bool any_open() const { return !groups_.empty(); }

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
    std::vector<int> fds;          // leader first
    std::vector<size_t> events;    // indices into status_
  };
  CounterSource& source_;
  std::vector<CounterStatus> status_;
  std::vector<Group> groups_;
};

}  // namespace llmk::bench
