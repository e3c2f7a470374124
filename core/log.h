// Logging with levels. Messages go to stderr as "kiln [level] text". The level comes from
// set_log_level() or the KILN_LOG environment variable (error|warn|info|debug); info by default,
// and the tests set warn so they stay quiet.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace kiln::log {

enum class Level : int { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

Level level();
void set_level(Level level);
// Parses "debug", "info", "warn", "error", "off"; throws kiln::Error otherwise.
Level parse_level(std::string_view text);
void write(Level level, std::string_view message);

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Debug) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Info) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Warn) write(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Error) write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace kiln::log
