// What identifies a run in the history: which build of the library ran,
// where, and under what conditions. Collected once per run; the pure parts
// (cpuinfo parsing, microarchitecture names) are separate for tests.
#pragma once

#include <string>
#include <string_view>

#include "llmk/bench.h"

namespace llmk::bench::history {

struct RunMetadata {
  std::string started_at;         // ISO 8601 UTC, e.g. "2026-12-02T01:47:46Z"
  int64_t unix_time_s = 0;
  std::string git_commit;         // full hash of the library's source tree at build time
  bool git_dirty = false;         // uncommitted changes in that tree
  std::string library_version;    // meson project version
  std::string compiler;           // e.g. "gcc 12.2.0"
  std::string compiler_flags;     // build type, optimisation and the cpp_args
  std::string cpu_model;          // /proc/cpuinfo "model name"
  std::string cpu_microarch;      // e.g. "Sapphire Rapids (family 6 model 143)"
  std::string cpu_flags;          // /proc/cpuinfo "flags", as listed
  std::string highway_targets;    // targets the run used, ',' joined (SuiteResult::targets_run)
  std::string kernel;             // uname release and version
  std::string governor;
  std::string isolated_cpus;      // "2-3,6" style; "" when none
  bool virtualized = false;
  std::string hypervisor;
  std::string hostname;
  std::string machine;            // --machine NAME, else the hostname
};

// The build this program is (commit, dirty, version, compiler, flags) and
// the machine it runs on now; `machine` empty means the hostname. Facts
// that live in SuiteResult (governor, isolated CPUs, virtualisation,
// targets) are copied from `suite`.
RunMetadata collect_run_metadata(const SuiteResult& suite, const std::string& machine);

// From /proc/cpuinfo text: the first processor's "model name", "flags",
// and its family/model as a microarchitecture name when known.
struct CpuInfo {
  std::string model_name, flags, vendor;
  int family = -1, model = -1, stepping = -1;
};
CpuInfo parse_cpuinfo(std::string_view text);
// "Sapphire Rapids (family 6 model 143 stepping 8)"; only the numbers when
// the model is not in the table; "unknown" without a family.
std::string microarch_name(const CpuInfo& cpu);

// "a3f...c1" and "a3f...c1-dirty" (git describe --always --dirty) into the
// hash and the flag; "unknown" outside a git tree.
void split_git_describe(std::string_view describe, std::string* commit, bool* dirty);

}  // namespace llmk::bench::history
