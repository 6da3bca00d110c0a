#include "history/metadata.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "history/build_flags.h"  // generated: version, compiler, flags (bench/history/meson.build)
#include "history/build_info.h"   // generated at build time: the git commit

namespace llmk::bench::history {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string cpu_list(const std::vector<int>& cpus) {
  return absl::StrJoin(cpus, ",");
}

}  // namespace

CpuInfo parse_cpuinfo(std::string_view text) {
  CpuInfo cpu;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (line.empty()) {
      if (!cpu.model_name.empty() || !cpu.flags.empty()) break;  // the first processor only
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    int number = 0;
    if (key == "model name") cpu.model_name = std::string(value);
    else if (key == "flags" || key == "Features") cpu.flags = std::string(value);
    else if (key == "vendor_id") cpu.vendor = std::string(value);
    else if (key == "cpu family" && absl::SimpleAtoi(value, &number)) cpu.family = number;
    else if (key == "model" && absl::SimpleAtoi(value, &number)) cpu.model = number;
    else if (key == "stepping" && absl::SimpleAtoi(value, &number)) cpu.stepping = number;
  }
  return cpu;
}

std::string microarch_name(const CpuInfo& cpu) {
  if (cpu.family < 0) return "unknown";
  // Server and recent client parts by (family, model); the table only names
  // what the numbers already say, so an unknown model keeps its numbers.
  struct Known { const char* vendor; int family; int model_lo, model_hi; const char* name; };
  static constexpr Known kKnown[] = {
      {"GenuineIntel", 6, 0x55, 0x55, "Skylake-SP/Cascade Lake"},
      {"GenuineIntel", 6, 0x6A, 0x6C, "Ice Lake-SP"},
      {"GenuineIntel", 6, 0x7D, 0x7E, "Ice Lake"},
      {"GenuineIntel", 6, 0x8C, 0x8D, "Tiger Lake"},
      {"GenuineIntel", 6, 0x8F, 0x8F, "Sapphire Rapids"},
      {"GenuineIntel", 6, 0x97, 0x9A, "Alder Lake"},
      {"GenuineIntel", 6, 0xAD, 0xAE, "Granite Rapids"},
      {"GenuineIntel", 6, 0xAA, 0xAC, "Meteor Lake"},
      {"GenuineIntel", 6, 0xB7, 0xBA, "Raptor Lake"},
      {"GenuineIntel", 6, 0xCF, 0xCF, "Emerald Rapids"},
      {"AuthenticAMD", 0x17, 0x00, 0x2F, "Zen/Zen+"},
      {"AuthenticAMD", 0x17, 0x30, 0xFF, "Zen 2"},
      {"AuthenticAMD", 0x19, 0x00, 0x0F, "Zen 3"},
      {"AuthenticAMD", 0x19, 0x10, 0x1F, "Zen 4"},
      {"AuthenticAMD", 0x19, 0x20, 0x5F, "Zen 3"},
      {"AuthenticAMD", 0x19, 0x60, 0xAF, "Zen 4"},
      {"AuthenticAMD", 0x1A, 0x00, 0xFF, "Zen 5"},
  };
  const std::string numbers =
      absl::StrFormat("family %d model %d stepping %d", cpu.family, cpu.model, cpu.stepping);
  for (const Known& k : kKnown) {
    if (cpu.vendor == k.vendor && cpu.family == k.family && cpu.model >= k.model_lo &&
        cpu.model <= k.model_hi) {
      return absl::StrCat(k.name, " (", numbers, ")");
    }
  }
  return numbers;
}

void split_git_describe(std::string_view describe, std::string* commit, bool* dirty) {
  absl::string_view d =
      absl::StripAsciiWhitespace(absl::string_view(describe.data(), describe.size()));
  *dirty = absl::ConsumeSuffix(&d, "-dirty");
  *commit = d.empty() ? "unknown" : std::string(d);
}

RunMetadata collect_run_metadata(const SuiteResult& suite, const std::string& machine) {
  RunMetadata m;
  const std::time_t now = std::time(nullptr);
  m.unix_time_s = static_cast<int64_t>(now);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  m.started_at = date;
  split_git_describe(LLMK_BUILD_GIT_DESCRIBE, &m.git_commit, &m.git_dirty);
  m.library_version = LLMK_BUILD_VERSION;
  m.compiler = LLMK_BUILD_COMPILER;
  m.compiler_flags = LLMK_BUILD_FLAGS;
  const CpuInfo cpu = parse_cpuinfo(read_file("/proc/cpuinfo"));
  m.cpu_model = cpu.model_name.empty() ? "unknown" : cpu.model_name;
  m.cpu_microarch = microarch_name(cpu);
  m.cpu_flags = cpu.flags;
  m.highway_targets = absl::StrJoin(suite.targets_run, ",");
  utsname u{};
  if (uname(&u) == 0) m.kernel = absl::StrCat(u.release, " ", u.version);
  m.governor = suite.governor;
  m.isolated_cpus = cpu_list(suite.isolated_cpus);
  m.virtualized = suite.virtualized;
  m.hypervisor = suite.hypervisor;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  m.hostname = host;
  m.machine = machine.empty() ? m.hostname : machine;
  return m;
}

}  // namespace llmk::bench::history
