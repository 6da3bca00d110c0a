// Which Highway SIMD target the kernels dispatch to, and how to force one.
// Every kernel is compiled for all x86-64 targets Highway supports (SSE2 …
// AVX3_SPR) plus Highway's portable fallback, which is what "scalar" means
// here: EMU128, or SCALAR when built with GCC < 14 (Highway avoids EMU128
// there because of a GCC bug).
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace llmk LLMK_API {

// Name of the target the next kernel call will use, e.g. "AVX3_ZEN4".
std::string current_target();

// Bytes in one vector of the target the next kernel call will use (64 for
// AVX3_*, 32 for AVX2, 16 for SSE*/NEON; scalable targets report the
// hardware's length; the scalar fallback its lane of one byte).
size_t current_vector_bytes();

// Targets compiled into the library that this CPU can run, best first.
// Always ends with the scalar fallback ("EMU128" or "SCALAR").
std::vector<std::string> supported_targets();

// Restrict dispatch to the named target ("scalar" is an alias of the fallback,
// "best" undoes any restriction). Case-insensitive. Unknown or unsupported
// names are an error and leave the current choice unchanged. Process-wide:
// not to be called while kernels run on other threads.
absl::Status force_target(std::string_view name);

// Undo force_target: dispatch to the best supported target again.
void reset_target();

}  // namespace llmk
