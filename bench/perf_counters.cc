#include "perf_counters.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"

#ifdef LLMK_HAVE_LIBPFM
#include <perfmon/pfmlib_perf_event.h>
#endif

namespace llmk::bench {
namespace {

constexpr uint64_t kReadFormat =
    PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;

std::string paranoid_level() {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  std::string level;
  if (in >> level) return level;
  return std::string(1, '?');
}

const char* errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENODEV: return "ENODEV";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    case E2BIG: return "E2BIG";
    case EBUSY: return "EBUSY";
    default: return "errno";
  }
}

class SystemCounterSource final : public CounterSource {
 public:
  SystemCounterSource() {
#ifdef LLMK_HAVE_LIBPFM
    static const bool initialized = pfm_initialize() == PFM_SUCCESS;
    pfm_ok_ = initialized;
#endif
  }

  int encode(const std::string& event, perf_event_attr* attr) override {
    std::memset(attr, 0, sizeof *attr);
#ifdef LLMK_HAVE_LIBPFM
    if (pfm_ok_) {
      pfm_perf_encode_arg_t arg;
      std::memset(&arg, 0, sizeof arg);
      arg.attr = attr;
      arg.size = sizeof arg;
      // PFM_PLM3: user level only, which perf_event_paranoid 2 still allows.
      if (pfm_get_os_event_encoding(event.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg) ==
          PFM_SUCCESS) {
        attr->size = sizeof *attr;
        return 0;
      }
      std::memset(attr, 0, sizeof *attr);
    }
#endif
    return encode_generic_event(event, attr) ? 0 : -ENOENT;
  }

  int open(perf_event_attr* attr, int group_fd) override {
    const long fd = syscall(SYS_perf_event_open, attr, 0 /*this thread*/, -1 /*any cpu*/,
                            group_fd, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : static_cast<int>(fd);
  }

  ssize_t read(int fd, void* buf, size_t bytes) override {
    const ssize_t got = ::read(fd, buf, bytes);
    return got < 0 ? -errno : got;
  }

  int enable_group(int leader_fd) override {
    return ioctl(leader_fd, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP) < 0 ? -errno : 0;
  }

  void close(int fd) override { ::close(fd); }

 private:
  [[maybe_unused]] bool pfm_ok_ = false;
};

// One group's reading out of a snapshot; nullopt when that read failed or
// was short.
std::optional<GroupReading> parse_snapshot_group(const CounterSet::Snapshot& snap, size_t group,
                                                 size_t events) {
  if (group >= snap.words.size() || group >= snap.bytes_read.size() || snap.bytes_read[group] < 0) {
    return std::nullopt;
  }
  const std::vector<uint64_t>& words = snap.words[group];
  const size_t bytes = std::min(static_cast<size_t>(snap.bytes_read[group]), words.size() * sizeof words[0]);
  auto reading = parse_group_read({reinterpret_cast<const uint8_t*>(words.data()), bytes}, events);
  if (!reading.ok()) return std::nullopt;
  return *std::move(reading);
}

}  // namespace

std::vector<std::string> default_counter_events() {
  return {"cycles",   "instructions",  "cache-references",      "cache-misses",
          "branches", "branch-misses", "L1-dcache-load-misses"};
}

CounterState classify_open_errno(int err) {
  switch (err) {
    case 0: return CounterState::kOk;
    case ENOENT:
    case EOPNOTSUPP:
    case ENODEV: return CounterState::kUnsupported;
    case EACCES:
    case EPERM: return CounterState::kNoPermission;
    case EINVAL: return CounterState::kInvalid;
    case ENOSPC: return CounterState::kNoCounters;
    default: return CounterState::kError;
  }
}

const char* counter_state_name(CounterState state) {
  switch (state) {
    case CounterState::kOk: return "ok";
    case CounterState::kUnknownEvent: return "unknown event";
    case CounterState::kUnsupported: return "unsupported";
    case CounterState::kNoPermission: return "not permitted";
    case CounterState::kInvalid: return "invalid";
    case CounterState::kNoCounters: return "no free counters";
    case CounterState::kError: return "error";
  }
  return "error";
}

std::string describe_open_failure(int err) {
  const CounterState state = classify_open_errno(err);
  std::string why;
  switch (state) {
    case CounterState::kUnsupported:
      why = "no PMU, or the event is not available here (usual in virtual machines)";
      break;
    case CounterState::kNoPermission:
      why = absl::StrCat("perf_event_paranoid is ", paranoid_level(),
                         "; lower it or grant CAP_PERFMON");
      break;
    case CounterState::kInvalid: why = "the kernel rejected the attribute"; break;
    case CounterState::kNoCounters: why = "no free hardware counter even in a group of its own"; break;
    default: why = std::strerror(err); break;
  }
  return absl::StrCat(counter_state_name(state), " (", errno_name(err), ": ", why, ")");
}

bool encode_generic_event(const std::string& event, perf_event_attr* attr) {
  struct Encoding {
    uint32_t type;
    uint64_t config;
  };
  auto cache = [](uint64_t cache_id, uint64_t op, uint64_t result) {
    return Encoding{PERF_TYPE_HW_CACHE, cache_id | (op << 8) | (result << 16)};
  };
  static const std::map<std::string, Encoding> table = {
      {"cycles", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES}},
      {"cpu-cycles", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES}},
      {"instructions", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS}},
      {"cache-references", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES}},
      {"cache-misses", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES}},
      {"branches", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS}},
      {"branch-instructions", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS}},
      {"branch-misses", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES}},
      {"bus-cycles", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES}},
      {"ref-cycles", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES}},
      {"stalled-cycles-frontend", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_FRONTEND}},
      {"stalled-cycles-backend", {PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_BACKEND}},
      {"L1-dcache-loads", cache(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ,
                                PERF_COUNT_HW_CACHE_RESULT_ACCESS)},
      {"L1-dcache-load-misses", cache(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ,
                                      PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {"LLC-loads", cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ,
                          PERF_COUNT_HW_CACHE_RESULT_ACCESS)},
      {"LLC-load-misses", cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ,
                                PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {"dTLB-load-misses", cache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ,
                                 PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {"task-clock", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK}},
      {"cpu-clock", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK}},
      {"page-faults", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS}},
      {"faults", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS}},
      {"minor-faults", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN}},
      {"major-faults", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ}},
      {"context-switches", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES}},
      {"cs", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES}},
      {"cpu-migrations", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS}},
      {"migrations", {PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS}},
  };
  const auto it = table.find(event);
  if (it == table.end()) return false;
  std::memset(attr, 0, sizeof *attr);
  attr->size = sizeof *attr;
  attr->type = it->second.type;
  attr->config = it->second.config;
  attr->exclude_kernel = 1;  // user space only: allowed at perf_event_paranoid 2
  attr->exclude_hv = 1;
  return true;
}

std::unique_ptr<CounterSource> make_system_counter_source() {
  return std::make_unique<SystemCounterSource>();
}

absl::StatusOr<GroupReading> parse_group_read(std::span<const uint8_t> buffer,
                                              size_t expected_events) {
  auto word = [&](size_t index) {
    uint64_t v = 0;
    std::memcpy(&v, buffer.data() + index * sizeof v, sizeof v);
    return v;
  };
  if (buffer.size() < 3 * sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("counter group read: ", buffer.size(),
                                            " bytes, need at least 24"));
  }
  const uint64_t nr = word(0);
  if (nr != expected_events) {
    return absl::DataLossError(absl::StrCat("counter group read: nr is ", nr, ", expected ",
                                            expected_events));
  }
  if (buffer.size() < (3 + nr) * sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("counter group read: ", buffer.size(),
                                            " bytes, too short for ", nr, " values"));
  }
  GroupReading r;
  r.time_enabled = word(1);
  r.time_running = word(2);
  for (uint64_t i = 0; i < nr; ++i) r.values.push_back(word(3 + i));
  return r;
}

GroupReading reading_delta(const GroupReading& earlier, const GroupReading& later) {
  GroupReading d;
  d.time_enabled = later.time_enabled - earlier.time_enabled;
  d.time_running = later.time_running - earlier.time_running;
  for (size_t i = 0; i < later.values.size(); ++i) {
    d.values.push_back(later.values[i] - (i < earlier.values.size() ? earlier.values[i] : 0));
  }
  return d;
}

std::optional<double> scale_count(uint64_t raw, uint64_t time_enabled, uint64_t time_running) {
  if (time_running == 0) return std::nullopt;
  if (time_running >= time_enabled) return static_cast<double>(raw);
  return static_cast<double>(raw) * static_cast<double>(time_enabled) /
         static_cast<double>(time_running);
}

CounterSet::CounterSet(const std::vector<std::string>& events, CounterSource& source)
    : source_(source) {
  for (const std::string& event : events) {
    CounterStatus st;
    st.event = event;
    perf_event_attr attr;
    if (source_.encode(event, &attr) < 0) {
      st.state = CounterState::kUnknownEvent;
      st.err = ENOENT;
      st.reason = "unknown event (neither libpfm4 nor the generic table knows this name)";
      status_.push_back(st);
      continue;
    }
    attr.read_format = kReadFormat;
    attr.inherit = 0;

    int fd = -1;
    if (!groups_.empty()) {
      attr.disabled = 0;  // a member counts whenever its leader does
      fd = source_.open(&attr, groups_.back().leader_fd);
      if (fd >= 0) {
        st.group = static_cast<int>(groups_.size() - 1);
        groups_.back().fds.push_back(fd);
        groups_.back().events.push_back(status_.size());
      }
    }
    int err = 0;
    if (fd < 0) {
      // No group yet, or the current one cannot take this event (ENOSPC, a
      // PMU mismatch): the event leads a group of its own, enabled below.
      attr.disabled = 1;
      fd = source_.open(&attr, -1);
      if (fd >= 0) {
        Group g;
        g.leader_fd = fd;
        g.fds.push_back(fd);
        g.events.push_back(status_.size());
        groups_.push_back(std::move(g));
        st.group = static_cast<int>(groups_.size() - 1);
      } else {
        err = -fd;
      }
    }
    if (fd >= 0) {
      st.state = CounterState::kOk;
      st.reason = "ok";
    } else {
      st.state = classify_open_errno(err);
      st.err = err;
      st.reason = describe_open_failure(err);
    }
    status_.push_back(st);
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const int err = -source_.enable_group(groups_[gi].leader_fd);
    if (err <= 0) continue;
    for (size_t e : groups_[gi].events) {
      status_[e].state = classify_open_errno(err);
      status_[e].err = err;
      status_[e].reason = absl::StrCat("enabling its group failed: ", describe_open_failure(err));
      status_[e].group = -1;
    }
  }
}

CounterSet::~CounterSet() {
  for (Group& g : groups_) {
    // Members before the leader, so no fd refers to a closed group.
    for (size_t i = g.fds.size(); i-- > 0;) source_.close(g.fds[i]);
  }
}

CounterSet::Snapshot CounterSet::new_snapshot() const {
  Snapshot snap;
  for (const Group& g : groups_) snap.words.emplace_back(3 + g.fds.size());
  snap.bytes_read.assign(groups_.size(), -EINVAL);
  return snap;
}

void CounterSet::read(Snapshot& into) {
  for (size_t gi = 0; gi < groups_.size() && gi < into.words.size(); ++gi) {
    std::vector<uint64_t>& buf = into.words[gi];
    into.bytes_read[gi] = source_.read(groups_[gi].leader_fd, buf.data(), buf.size() * sizeof buf[0]);
  }
}

CounterSet::Snapshot CounterSet::snapshot() {
  Snapshot snap = new_snapshot();
  read(snap);
  return snap;
}

std::vector<CounterValue> CounterSet::values_between(const Snapshot& earlier,
                                                     const Snapshot& later) const {
  std::vector<CounterValue> out;
  for (const CounterStatus& st : status_) {
    CounterValue v;
    v.event = st.event;
    if (st.state == CounterState::kOk && st.group >= 0) {
      const size_t gi = static_cast<size_t>(st.group);
      const std::optional<GroupReading> a = parse_snapshot_group(earlier, gi, groups_[gi].fds.size());
      const std::optional<GroupReading> b = parse_snapshot_group(later, gi, groups_[gi].fds.size());
      if (a && b) {
        const GroupReading d = reading_delta(*a, *b);
        const Group& g = groups_[gi];
        for (size_t k = 0; k < g.events.size(); ++k) {
          if (&status_[g.events[k]] != &st || k >= d.values.size()) continue;
          v.count = scale_count(d.values[k], d.time_enabled, d.time_running);
          v.running_fraction = d.time_enabled > 0
                                   ? static_cast<double>(d.time_running) /
                                         static_cast<double>(d.time_enabled)
                                   : 0.0;
        }
      }
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace llmk::bench
