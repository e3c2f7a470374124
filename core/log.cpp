#include "core/log.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/error.h"

namespace kiln::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("KILN_LOG");
  if (env == nullptr || *env == '\0') return Level::Info;
  try {
    return parse_level(env);
  } catch (const Error&) {
    std::fprintf(stderr, "kiln [warn] KILN_LOG=%s is not one of debug|info|warn|error|off; using info\n", env);
    return Level::Info;
  }
}

std::atomic<Level>& current() {
  static std::atomic<Level> level{initial_level()};
  return level;
}

}  // namespace

Level level() { return current().load(std::memory_order_relaxed); }
void set_level(Level level) { current().store(level, std::memory_order_relaxed); }

Level parse_level(std::string_view text) {
  if (text == "debug") return Level::Debug;
  if (text == "info") return Level::Info;
  if (text == "warn" || text == "warning") return Level::Warn;
  if (text == "error") return Level::Error;
  if (text == "off") return Level::Off;
  fail(fmt::format("unknown log level '{}' (expected debug, info, warn, error or off)", text));
}

void write(Level level, std::string_view message) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "kiln [%s] %.*s\n", kNames[static_cast<int>(level)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace kiln::log
