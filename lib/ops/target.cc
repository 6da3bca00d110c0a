#include "llmk/target.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hwy/targets.h"
#include "util/check.h"

namespace llmk {
namespace {


int64_t g_forced = 0;  // 0: best target

}  // namespace

std::string current_target() {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  return targets.empty() ? "none" : hwy::TargetName(targets.front());
}

std::vector<std::string> supported_targets() {
  std::vector<std::string> names;
  const int64_t saved = g_forced;
  hwy::SetSupportedTargetsForTest(0);
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) names.push_back(hwy::TargetName(t));
  hwy::SetSupportedTargetsForTest(saved);
  return names;
}

absl::Status force_target(std::string_view name) {
  std::string wanted = absl::AsciiStrToUpper(internal::to_absl(name));
  if (wanted == "BEST") {
    reset_target();
    return absl::OkStatus();
  }
  const int64_t saved = g_forced;
  hwy::SetSupportedTargetsForTest(0);
  const std::vector<int64_t> all = hwy::SupportedAndGeneratedTargets();
  // "scalar" names the portable fallback, whichever Highway built: EMU128, or
  // SCALAR where the compiler is too old for EMU128 (GCC < 14).
  if (wanted == "SCALAR" && !all.empty()) wanted = hwy::TargetName(all.back());
  for (int64_t t : all) {
    if (wanted == hwy::TargetName(t)) {
      g_forced = t;
      hwy::SetSupportedTargetsForTest(t);
      return absl::OkStatus();
    }
  }
  hwy::SetSupportedTargetsForTest(saved);
  std::vector<std::string> names;
  for (int64_t t : all) names.push_back(hwy::TargetName(t));
  return absl::InvalidArgumentError(
      absl::StrCat("force_target: '", internal::to_absl(name), "' is not a supported target; this CPU runs: ",
                   absl::StrJoin(names, ", "), " (or 'best', 'scalar')"));
}

void reset_target() {
  g_forced = 0;
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace llmk
