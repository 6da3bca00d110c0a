#include "util/log.h"

#include "llmk/log.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace llmk {
namespace internal {

spdlog::logger& logger() {
  // Not registered globally: a program's own spdlog setup is left alone.
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>(
        "llmk", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_level(spdlog::level::off);
    return l;
  }();
  return *instance;
}

}  // namespace internal

void set_log_level(LogLevel level) {
  static constexpr spdlog::level::level_enum kMap[] = {
      spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
      spdlog::level::warn,  spdlog::level::err,   spdlog::level::off};
  internal::logger().set_level(kMap[static_cast<int>(level)]);
}

}  // namespace llmk
