#include "harness/perf_counters.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#ifdef LLMK_HAVE_LIBPFM
#include <perfmon/pfmlib_perf_event.h>
#endif

namespace llmk::bench {
namespace {

constexpr uint64_t kReadFormat =
    PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
// One event without PERF_FORMAT_GROUP: {value, time_enabled, time_running}.
constexpr uint64_t kSingleReadFormat =
    PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;

#ifdef LLMK_HAVE_LIBPFM
bool libpfm_ready() {
  static const bool initialized = pfm_initialize() == PFM_SUCCESS;
  return initialized;
}
#endif

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
    pfm_ok_ = libpfm_ready();
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

// One group's reading out of a snapshot; an error when that read failed or
// was short.
absl::StatusOr<GroupReading> parse_snapshot_group(const CounterSet::Snapshot& snap, size_t group,
                                                  size_t events, bool group_format) {
  if (group >= snap.words.size() || group >= snap.bytes_read.size()) {
    return absl::InternalError("snapshot not sized for this set");
  }
  if (snap.bytes_read[group] < 0) {
    const int err = static_cast<int>(-snap.bytes_read[group]);
    return absl::DataLossError(absl::StrCat("read failed: ", std::strerror(err)));
  }
  const std::vector<uint64_t>& words = snap.words[group];
  const size_t bytes = std::min(static_cast<size_t>(snap.bytes_read[group]), words.size() * sizeof words[0]);
  const std::span<const uint8_t> buffer(reinterpret_cast<const uint8_t*>(words.data()), bytes);
  return group_format ? parse_group_read(buffer, events) : parse_single_read(buffer);
}

// Opens `events` as one group for a trial (leader disabled, members that
// cannot join left out), enables it over a little work and reads it once.
struct TrialResult {
  size_t opened = 0;       // events in the trial group
  bool ran = false;        // time_running > 0
  int first_error = 0;     // errno of the first open that failed
};
TrialResult try_group(CounterSource& source, const EventGroup& events) {
  TrialResult result;
  std::vector<int> fds;
  for (const std::string& event : events) {
    perf_event_attr attr;
    if (source.encode(event, &attr) < 0) {
      if (result.first_error == 0) result.first_error = ENOENT;
      continue;
    }
    attr.read_format = kReadFormat;
    attr.disabled = fds.empty() ? 1 : 0;
    const int fd = source.open(&attr, fds.empty() ? -1 : fds.front());
    if (fd < 0) {
      if (result.first_error == 0) result.first_error = -fd;
      continue;
    }
    fds.push_back(fd);
  }
  result.opened = fds.size();
  if (!fds.empty() && source.enable_group(fds.front()) == 0) {
    source.run_trial_workload();
    std::vector<uint64_t> words(3 + fds.size());
    const ssize_t got = source.read(fds.front(), words.data(), words.size() * sizeof words[0]);
    if (got > 0) {
      auto reading = parse_group_read(
          {reinterpret_cast<const uint8_t*>(words.data()), static_cast<size_t>(got)}, fds.size());
      result.ran = reading.ok() && reading->time_running > 0;
    }
  }
  for (size_t i = fds.size(); i-- > 0;) source.close(fds[i]);
  return result;
}

bool is_any_of(const std::string& name, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (name == n) return true;
  }
  return false;
}

// numerator / denominator per operation, both from one group when a group
// counted both, else from wherever each was counted.
std::optional<double> counter_ratio(const std::vector<CounterResult>& counters,
                                    std::initializer_list<const char*> numerator,
                                    std::initializer_list<const char*> denominator) {
  const CounterResult* num_any = nullptr;
  const CounterResult* den_any = nullptr;
  for (const CounterResult& n : counters) {
    if (!n.per_op || !is_any_of(n.event, numerator)) continue;
    if (!num_any) num_any = &n;
    for (const CounterResult& d : counters) {
      if (d.per_op && d.group == n.group && n.group >= 0 && is_any_of(d.event, denominator)) {
        return *d.per_op > 0 ? std::optional<double>(*n.per_op / *d.per_op) : std::nullopt;
      }
    }
  }
  for (const CounterResult& d : counters) {
    if (d.per_op && is_any_of(d.event, denominator)) {
      den_any = &d;
      break;
    }
  }
  if (!num_any || !den_any || !(*den_any->per_op > 0)) return std::nullopt;
  return *num_any->per_op / *den_any->per_op;
}

std::optional<double> counter_per_item(const std::vector<CounterResult>& counters,
                                       std::initializer_list<const char*> names,
                                       double items_per_op) {
  if (!(items_per_op > 0)) return std::nullopt;
  for (const CounterResult& c : counters) {
    if (c.per_op && is_any_of(c.event, names)) return *c.per_op / items_per_op;
  }
  return std::nullopt;
}

struct SimdTableEntry {
  std::vector<std::string> pmus;
  std::vector<std::string> vector_events;  // without the "pmu::" prefix
  std::string base_event;                  // generic, or a PMU event without prefix
  bool base_is_pmu_event = false;
  std::string counts;
};

// Event names as libpfm4 4.13 has them (checked in tests against its tables).
const std::vector<SimdTableEntry>& simd_table() {
  static const std::vector<SimdTableEntry> table = {
      {{"icl", "icx", "spr"},
       {"FP_ARITH_INST_RETIRED:VECTOR"},
       "instructions",
       false,
       "packed FP arithmetic instructions per instruction (an FMA counts twice)"},
      {{"skl", "skx", "clx"},
       {"FP_ARITH_INST_RETIRED:128B_PACKED_SINGLE:128B_PACKED_DOUBLE:256B_PACKED_SINGLE:"
        "256B_PACKED_DOUBLE:512B_PACKED_SINGLE:512B_PACKED_DOUBLE"},
       "instructions",
       false,
       "packed FP arithmetic instructions per instruction (an FMA counts twice)"},
      {{"bdw", "bdw_ep"},
       {"FP_ARITH_INST_RETIRED:128B_PACKED_SINGLE:128B_PACKED_DOUBLE:256B_PACKED_SINGLE:"
        "256B_PACKED_DOUBLE"},
       "instructions",
       false,
       "packed FP arithmetic instructions per instruction (an FMA counts twice)"},
      {{"hsw", "hsw_ep"},
       {"AVX:ALL"},
       "instructions",
       false,
       "256-bit AVX instructions (approximate) per instruction"},
      {{"amd64_fam19h_zen4"},
       {"RETIRED_FP_OPS_BY_WIDTH:PACK128_UOPS_RETIRED:PACK256_UOPS_RETIRED:PACK512_UOPS_RETIRED"},
       "instructions",
       false,
       "packed FP uops per instruction"},
      // Zen 1-3 count FLOPs (RETIRED_SSE_AVX_FLOPS), not instructions by
      // width; SSE/AVX instructions retired is the nearest share.
      {{"amd64_fam17h", "amd64_fam17h_zen1", "amd64_fam17h_zen2", "amd64_fam19h_zen3"},
       {"RETIRED_MMX_FP_INSTRUCTIONS:SSE_INSTR"},
       "instructions",
       false,
       "SSE/AVX instructions (scalar ones included) per instruction"},
      {{"arm_ac57", "arm_xgene"},
       {"INST_SPEC_EXEC_SIMD"},
       "INST_SPEC_EXEC",
       true,
       "Advanced SIMD operations per operation, both speculatively executed"},
      {{"arm_thunderx2", "arm_n1", "arm_kunpeng"},
       {"ASE_SPEC"},
       "INST_SPEC",
       true,
       "Advanced SIMD operations per operation, both speculatively executed"},
      {{"arm_n2", "arm_v1", "arm_v2"},
       {"ASE_SPEC", "SVE_INST_SPEC"},
       "INST_SPEC",
       true,
       "Advanced SIMD and SVE operations per operation, all speculatively executed"},
      {{"arm_a64fx"},
       {"SIMD_INST_RETIRED"},
       "INST_RETIRED",
       true,
       "SIMD instructions (SVE included) per instruction, retired"},
  };
  return table;
}

}  // namespace

void CounterSource::run_trial_workload() {
  // Long enough for a scheduled group to show time_running > 0, short
  // enough to probe sixteen sizes in well under a millisecond each.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  volatile uint64_t sink = 0;
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
}

std::string SimdEvents::describe() const {
  if (vector_events.empty()) return absl::StrCat("n/a: ", reason);
  return absl::StrCat(absl::StrJoin(vector_events, " + "), " / ", base_event, " (", counts, ")");
}

SimdEvents simd_events_for_pmu(const std::string& pmu) {
  SimdEvents out;
  out.pmu = pmu;
  if (pmu.empty()) {
#ifdef LLMK_HAVE_LIBPFM
    out.reason = "no PMU: libpfm4 recognises no core PMU on this CPU";
#else
    out.reason = "no PMU known: built without libpfm4";
#endif
    return out;
  }
  for (const SimdTableEntry& e : simd_table()) {
    if (std::find(e.pmus.begin(), e.pmus.end(), pmu) == e.pmus.end()) continue;
    for (const std::string& v : e.vector_events) out.vector_events.push_back(absl::StrCat(pmu, "::", v));
    out.base_event = e.base_is_pmu_event ? absl::StrCat(pmu, "::", e.base_event) : e.base_event;
    out.counts = e.counts;
    return out;
  }
  out.reason = absl::StrCat("no vector-op event known for PMU ", pmu);
  return out;
}

std::vector<std::string> simd_table_pmus() {
  std::vector<std::string> out;
  for (const SimdTableEntry& e : simd_table()) out.insert(out.end(), e.pmus.begin(), e.pmus.end());
  return out;
}

bool built_with_libpfm() {
#ifdef LLMK_HAVE_LIBPFM
  return true;
#else
  return false;
#endif
}

std::string active_core_pmu() {
#ifdef LLMK_HAVE_LIBPFM
  if (!libpfm_ready()) return "";
  for (int pmu = PFM_PMU_NONE; pmu < PFM_PMU_MAX; ++pmu) {
    pfm_pmu_info_t info;
    std::memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (pfm_get_pmu_info(static_cast<pfm_pmu_t>(pmu), &info) != PFM_SUCCESS) continue;
    if (info.is_present && info.type == PFM_PMU_TYPE_CORE && info.name) return info.name;
  }
#endif
  return "";
}

bool libpfm_knows_event(const std::string& qualified_name) {
#ifdef LLMK_HAVE_LIBPFM
  if (!libpfm_ready()) return false;
  const size_t sep = qualified_name.find("::");
  if (sep == std::string::npos) return false;
  const std::string pmu_name = qualified_name.substr(0, sep);
  const std::vector<std::string> parts =
      absl::StrSplit(qualified_name.substr(sep + 2), ':', absl::SkipEmpty());
  if (parts.empty()) return false;
  for (int pmu = PFM_PMU_NONE; pmu < PFM_PMU_MAX; ++pmu) {
    pfm_pmu_info_t info;
    std::memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (pfm_get_pmu_info(static_cast<pfm_pmu_t>(pmu), &info) != PFM_SUCCESS || !info.name ||
        !absl::EqualsIgnoreCase(info.name, pmu_name)) {
      continue;
    }
    for (int idx = info.first_event; idx != -1; idx = pfm_get_event_next(idx)) {
      pfm_event_info_t event;
      std::memset(&event, 0, sizeof event);
      event.size = sizeof event;
      if (pfm_get_event_info(idx, PFM_OS_NONE, &event) != PFM_SUCCESS || !event.name ||
          !absl::EqualsIgnoreCase(event.name, parts[0])) {
        continue;
      }
      for (size_t u = 1; u < parts.size(); ++u) {
        bool found = false;
        for (int a = 0; a < event.nattrs && !found; ++a) {
          pfm_event_attr_info_t attr;
          std::memset(&attr, 0, sizeof attr);
          attr.size = sizeof attr;
          found = pfm_get_event_attr_info(idx, a, PFM_OS_NONE, &attr) == PFM_SUCCESS &&
                  attr.type == PFM_ATTR_UMASK && attr.name &&
                  absl::EqualsIgnoreCase(attr.name, parts[u]);
        }
        if (!found) return false;
      }
      return true;
    }
    return false;
  }
#else
  (void)qualified_name;
#endif
  return false;
}

std::vector<EventGroup> default_counter_groups(const SimdEvents& simd) {
  std::vector<EventGroup> groups = {
      {"cycles", "instructions"},
      {"cache-references", "cache-misses"},
      {"branches", "branch-misses"},
      {"L1-dcache-loads", "L1-dcache-load-misses"},
  };
  if (!simd.vector_events.empty()) {
    EventGroup g = simd.vector_events;
    g.push_back(simd.base_event);
    groups.push_back(std::move(g));
  }
  // Not context-switches: counted in the kernel, so always 0 with the
  // exclude_kernel that perf_event_paranoid 2 requires.
  groups.push_back({"task-clock", "page-faults"});
  return groups;
}

absl::StatusOr<std::vector<EventGroup>> parse_counter_groups(const std::vector<std::string>& entries) {
  std::vector<EventGroup> groups;
  for (const std::string& entry : entries) {
    EventGroup g;
    for (absl::string_view e : absl::StrSplit(entry, '+')) {
      const absl::string_view name = absl::StripAsciiWhitespace(e);
      if (name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--counters: empty event name in group '", entry, "'"));
      }
      g.emplace_back(name);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::string describe_group(const EventGroup& group) {
  return absl::StrCat("{", absl::StrJoin(group, ", "), "}");
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

absl::StatusOr<GroupReading> parse_single_read(std::span<const uint8_t> buffer) {
  if (buffer.size() < 3 * sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("counter read: ", buffer.size(),
                                            " bytes, need 24"));
  }
  uint64_t words[3];
  std::memcpy(words, buffer.data(), sizeof words);
  GroupReading r;
  r.values.push_back(words[0]);
  r.time_enabled = words[1];
  r.time_running = words[2];
  return r;
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

std::string not_scheduled_reason(size_t events, std::optional<int> free_counters) {
  return absl::StrCat("not scheduled: ", events, events == 1 ? " event, " : " events, ",
                      free_counters ? absl::StrCat(*free_counters, " free counter",
                                                   *free_counters == 1 ? "" : "s")
                                    : std::string("free counters unknown"));
}

int read_nmi_watchdog(const std::string& path) {
  std::ifstream in(path);
  int value = -1;
  if (in >> value) return value;
  return -1;
}

CounterCapacity probe_counter_capacity(CounterSource& source, int nmi_watchdog, int max_events) {
  CounterCapacity cap;
  cap.nmi_watchdog = nmi_watchdog;
  const std::string watchdog =
      nmi_watchdog == 1   ? "; nmi_watchdog is on and holds one counter"
      : nmi_watchdog == 0 ? "; nmi_watchdog off"
                          : "";
  // A hardware event that opens here: instructions, else cycles (some PMUs
  // have only a cycle counter).
  int first_error = 0;
  for (const char* candidate : {"instructions", "cycles"}) {
    const TrialResult one = try_group(source, {candidate});
    if (one.opened == 1) {
      cap.probe_event = candidate;
      break;
    }
    if (first_error == 0) first_error = one.first_error;
  }
  if (cap.probe_event.empty()) {
    cap.description = absl::StrCat("unknown: instructions ", describe_open_failure(first_error),
                                   watchdog);
    return cap;
  }
  int fitted = 0;
  for (int k = 1; k <= max_events; ++k) {
    const TrialResult t = try_group(source, EventGroup(static_cast<size_t>(k), cap.probe_event));
    if (t.opened != static_cast<size_t>(k) || !t.ran) break;
    fitted = k;
  }
  cap.free_counters = fitted;
  cap.at_least = fitted == max_events;
  if (cap.at_least) {
    cap.description = absl::StrCat("at least ", fitted, " free counters (every group of up to ",
                                   fitted, " x ", cap.probe_event, " ran)", watchdog);
  } else {
    cap.description = absl::StrCat(fitted, " free counter", fitted == 1 ? "" : "s", " (a group of ",
                                   fitted + 1, " x ", cap.probe_event, " never ran)", watchdog);
  }
  return cap;
}

namespace {

void fit_group(const EventGroup& group, CounterSource& source, const CounterCapacity& capacity,
               GroupFit& fit) {
  const TrialResult trial = try_group(source, group);
  if (trial.opened == 0 || trial.ran || group.size() == 1) {
    if (trial.opened > 0 && !trial.ran) {
      fit.notes.push_back(absl::StrCat(describe_group(group), ": ",
                                       not_scheduled_reason(trial.opened, capacity.free_counters),
                                       "; reported as n/a"));
    }
    fit.groups.push_back(group);
    return;
  }
  const size_t free = capacity.free_counters.value_or(0);
  const size_t chunk =
      free >= 1 && free < group.size() ? free : (group.size() + 1) / 2;
  std::vector<EventGroup> pieces;
  for (size_t i = 0; i < group.size(); i += chunk) {
    pieces.emplace_back(group.begin() + static_cast<std::ptrdiff_t>(i),
                        group.begin() + static_cast<std::ptrdiff_t>(std::min(group.size(), i + chunk)));
  }
  std::vector<std::string> described;
  for (const EventGroup& p : pieces) described.push_back(describe_group(p));
  fit.notes.push_back(absl::StrCat(describe_group(group), ": ",
                                   not_scheduled_reason(trial.opened, capacity.free_counters),
                                   "; split into ", absl::StrJoin(described, " ")));
  for (const EventGroup& p : pieces) fit_group(p, source, capacity, fit);
}

}  // namespace

GroupFit fit_counter_groups(const std::vector<EventGroup>& wanted, CounterSource& source,
                            const CounterCapacity& capacity) {
  GroupFit fit;
  for (const EventGroup& g : wanted) {
    if (!g.empty()) fit_group(g, source, capacity, fit);
  }
  return fit;
}

CounterSet::CounterSet(const std::vector<EventGroup>& groups, CounterSource& source,
                       CounterOptions options)
    : source_(source), options_(options) {
  for (const EventGroup& g : groups) open_group(g);
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

CounterSet::CounterSet(const std::vector<std::string>& events, CounterSource& source)
    : CounterSet(std::vector<EventGroup>{events}, source, CounterOptions{}) {}

void CounterSet::open_group(const EventGroup& events) {
  int leader = -1;  // the group this request's events join
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
    attr.inherit = options_.inherit ? 1 : 0;
    st.hardware = attr.type != PERF_TYPE_SOFTWARE;

    auto add_group = [&](int fd, bool group_format) {
      Group g;
      g.leader_fd = fd;
      g.group_format = group_format;
      g.fds.push_back(fd);
      g.events.push_back(status_.size());
      groups_.push_back(std::move(g));
      st.group = static_cast<int>(groups_.size() - 1);
    };
    int fd = -1;
    int err = 0;
    if (options_.inherit && inherit_fell_back_) {
      // This kernel refused inherit with PERF_FORMAT_GROUP: one event per group.
      attr.read_format = kSingleReadFormat;
      attr.disabled = 1;
      fd = source_.open(&attr, -1);
      if (fd >= 0) add_group(fd, false);
      else err = -fd;
    } else {
      if (leader >= 0) {
        attr.disabled = 0;  // a member counts whenever its leader does
        fd = source_.open(&attr, leader);
        if (fd >= 0) {
          st.group = static_cast<int>(groups_.size() - 1);
          groups_.back().fds.push_back(fd);
          groups_.back().events.push_back(status_.size());
        }
      }
      if (fd < 0) {
        // No group yet, or this one cannot take the event (ENOSPC, a PMU
        // mismatch): the event leads a group of its own, enabled below.
        attr.disabled = 1;
        fd = source_.open(&attr, -1);
        if (fd >= 0) {
          add_group(fd, true);
          leader = fd;
        } else {
          err = -fd;
        }
      }
      if (fd < 0 && options_.inherit && err == EINVAL) {
        attr.read_format = kSingleReadFormat;
        fd = source_.open(&attr, -1);
        if (fd >= 0) {
          inherit_fell_back_ = true;
          add_group(fd, false);
        }
      }
    }
    if (fd >= 0) {
      st.state = CounterState::kOk;
      st.err = 0;
      st.reason = "ok";
    } else {
      st.state = classify_open_errno(err);
      st.err = err;
      st.reason = describe_open_failure(err);
    }
    status_.push_back(st);
  }
}

CounterSet::~CounterSet() {
  for (Group& g : groups_) {
    // Members before the leader, so no fd refers to a closed group.
    for (size_t i = g.fds.size(); i-- > 0;) source_.close(g.fds[i]);
  }
}

std::string CounterSet::counted_threads() const {
  if (!options_.inherit) return "measuring thread";
  return inherit_fell_back_ ? "all threads (inherit, one event per group)"
                            : "all threads (inherit)";
}

CounterSet::Snapshot CounterSet::new_snapshot() const {
  Snapshot snap;
  for (const Group& g : groups_) snap.words.emplace_back(g.group_format ? 3 + g.fds.size() : 3);
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
  for (size_t si = 0; si < status_.size(); ++si) {
    const CounterStatus& st = status_[si];
    CounterValue v;
    v.event = st.event;
    if (st.state == CounterState::kOk && st.group >= 0) {
      const size_t gi = static_cast<size_t>(st.group);
      const Group& g = groups_[gi];
      v.group = st.group;
      const auto a = parse_snapshot_group(earlier, gi, g.fds.size(), g.group_format);
      const auto b = parse_snapshot_group(later, gi, g.fds.size(), g.group_format);
      if (!a.ok() || !b.ok()) {
        v.not_counted = absl::StrCat("group read failed: ",
                                     (a.ok() ? b.status() : a.status()).message());
      } else {
        const GroupReading d = reading_delta(*a, *b);
        const auto k = std::find(g.events.begin(), g.events.end(), si) - g.events.begin();
        if (static_cast<size_t>(k) < d.values.size()) {
          v.count = scale_count(d.values[static_cast<size_t>(k)], d.time_enabled, d.time_running);
          v.running_fraction = d.time_enabled > 0 ? static_cast<double>(d.time_running) /
                                                        static_cast<double>(d.time_enabled)
                                                  : 0.0;
        }
        if (!v.count) v.not_counted = not_scheduled_reason(g.fds.size(), options_.free_counters);
      }
    }
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> counter_warnings(const std::vector<CounterStatus>& status,
                                          const CounterCapacity& capacity) {
  std::vector<std::string> lines;
  size_t hardware_events = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> by_reason;
  for (const CounterStatus& st : status) {
    if (st.state == CounterState::kOk) {
      hardware_events += st.hardware ? 1 : 0;
      continue;
    }
    auto it = std::find_if(by_reason.begin(), by_reason.end(),
                           [&](const auto& p) { return p.first == st.reason; });
    if (it == by_reason.end()) it = by_reason.insert(by_reason.end(), {st.reason, {}});
    if (std::find(it->second.begin(), it->second.end(), st.event) == it->second.end()) {
      it->second.push_back(st.event);
    }
  }
  if (capacity.free_counters && !capacity.at_least &&
      hardware_events > static_cast<size_t>(*capacity.free_counters)) {
    lines.push_back(absl::StrCat("counters: ", hardware_events, " hardware events for ",
                                 *capacity.free_counters,
                                 " free counters; the kernel multiplexes the groups and scales "
                                 "the counts (the counted share is printed per counter)"));
  }
  for (const auto& [reason, events] : by_reason) {
    lines.push_back(absl::StrCat(events.size() > 1 ? "counters " : "counter ",
                                 absl::StrJoin(events, ", "), ": ", reason, "; reported as n/a"));
  }
  return lines;
}

std::vector<CounterResult> counter_results(const std::vector<CounterStatus>& status,
                                           const std::vector<CounterValue>& values,
                                           double operations) {
  std::vector<CounterResult> out;
  for (size_t i = 0; i < values.size() && i < status.size(); ++i) {
    CounterResult c;
    c.event = values[i].event;
    c.group = values[i].group;
    c.status = status[i].reason;
    if (values[i].count && operations > 0) c.per_op = *values[i].count / operations;
    c.running_fraction = values[i].running_fraction;
    if (status[i].state == CounterState::kOk && !c.per_op) {
      c.status = values[i].not_counted.empty() ? "not counted" : values[i].not_counted;
    }
    out.push_back(c);
  }
  return out;
}

CounterMetrics derive_counter_metrics(const std::vector<CounterResult>& counters,
                                      double items_per_op, const SimdEvents& simd) {
  CounterMetrics m;
  m.ipc = counter_ratio(counters, {"instructions"}, {"cycles", "cpu-cycles"});
  m.cycles_per_item = counter_per_item(counters, {"cycles", "cpu-cycles"}, items_per_op);
  m.instructions_per_item = counter_per_item(counters, {"instructions"}, items_per_op);
  m.cache_miss_rate = counter_ratio(counters, {"cache-misses"}, {"cache-references"});
  m.l1d_miss_rate = counter_ratio(counters, {"L1-dcache-load-misses"}, {"L1-dcache-loads"});
  m.branch_miss_rate =
      counter_ratio(counters, {"branch-misses"}, {"branches", "branch-instructions"});
  if (!simd.vector_events.empty()) {
    // Every vector event must have counted: a partial sum would understate.
    double vector_ops = 0;
    int vector_group = -1;
    bool complete = true;
    for (const std::string& name : simd.vector_events) {
      const auto it = std::find_if(counters.begin(), counters.end(),
                                   [&](const CounterResult& c) { return c.event == name && c.per_op; });
      if (it == counters.end()) {
        complete = false;
        break;
      }
      vector_ops += *it->per_op;
      if (vector_group < 0) vector_group = it->group;
    }
    const CounterResult* base = nullptr;
    for (const CounterResult& c : counters) {
      if (c.event != simd.base_event || !c.per_op) continue;
      if (!base || (c.group == vector_group && base->group != vector_group)) base = &c;
    }
    if (complete && base && *base->per_op > 0) m.simd_share = vector_ops / *base->per_op;
  }
  return m;
}

}  // namespace llmk::bench
