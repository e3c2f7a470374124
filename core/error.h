// kiln::Error, the one exception type kiln throws, and the checks that raise it.
//
// An Error says what failed and where: the message names the op, the shapes or the file the
// user gave; the location is the source line that detected it. what() is the whole line a user
// sees: "<message> [core/tensor.cpp:42]".
#pragma once

#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message,
                 std::source_location where = std::source_location::current());

  // The message without the location suffix.
  const std::string& message() const noexcept { return message_; }
  // "file:line" of the check that failed, relative to the repository.
  const std::string& location() const noexcept { return location_; }

 private:
  std::string message_;
  std::string location_;
};

// Throws kiln::Error with the given message; the location is the caller's.
[[noreturn]] void fail(const std::string& message,
                       std::source_location where = std::source_location::current());

// "core/tensor.cpp:42" from a source_location.
std::string short_location(const std::source_location& where);

}  // namespace kiln

// KILN_CHECK(cond, "format {}", args...): throws kiln::Error with the formatted message when cond
// is false. The format string is checked at compile time.
#define KILN_CHECK(cond, ...)                            \
  do {                                                    \
    if (!(cond)) [[unlikely]]                             \
      ::kiln::fail(::fmt::format(__VA_ARGS__));           \
  } while (0)
