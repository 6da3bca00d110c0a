// The library's own logger (see llmk/log.h). Use LLMK_LOG(warn, "...", args).
#pragma once

#include <memory>

#include "spdlog/spdlog.h"

namespace llmk::internal {
spdlog::logger& logger();
}  // namespace llmk::internal

#define LLMK_LOG(level, ...) ::llmk::internal::logger().level(__VA_ARGS__)
