// The library logs only through its own spdlog logger named "llmk", which is
// silent (level off) until a program turns it on.
#pragma once

#include "llmk/export.h"

namespace llmk LLMK_API {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

void set_log_level(LogLevel level);

}  // namespace llmk
