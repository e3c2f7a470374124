// kiln::Error, the one exception type kiln throws, and the checks that raise it.
//
// An Error says what failed and where: the message names the op, the shapes or the file the
// user gave; the location is the source line that detected it. what() is the whole line a user
// sees: "<message> [core/tensor.cpp:42]".
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <version>

#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace kiln {

// Where a check failed: std::source_location, or where the standard library cannot provide it
// (clang 14 with libstdc++, the fuzz build: clang < 15 lacks __builtin_source_location) the same
// interface from the builtins every compiler here has.
#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
class SourceLocation {
 public:
  static constexpr SourceLocation current(const char* file = __builtin_FILE(), int line = __builtin_LINE(),
                                          const char* function = __builtin_FUNCTION()) noexcept {
    SourceLocation where;
    where.file_ = file;
    where.line_ = static_cast<uint_least32_t>(line);
    where.function_ = function;
    return where;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr uint_least32_t line() const noexcept { return line_; }
  constexpr uint_least32_t column() const noexcept { return 0; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  const char* file_ = "";
  uint_least32_t line_ = 0;
  const char* function_ = "";
};
#endif

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message,
                 SourceLocation where = SourceLocation::current());

  // The message without the location suffix.
  const std::string& message() const noexcept { return message_; }
  // "file:line" of the check that failed, relative to the repository.
  const std::string& location() const noexcept { return location_; }

 private:
  std::string message_;
  std::string location_;
};

// An allocation that did not fit: host or device memory, or kiln's limit (core/allocator.h). An
// Error like any other; code that knows what was being allocated (a layer's tensors, a batch, a
// file's bytes) catches it, or a std::bad_alloc, and rethrows it with that context
// (rethrow_out_of_memory), so that the user reads one line naming the layer or file.
class OutOfMemory : public Error {
 public:
  // Spelled out: nvcc's front end fails on an inherited constructor with a source-location default.
  explicit OutOfMemory(const std::string& message, SourceLocation where = SourceLocation::current())
      : Error(message, where) {}
};

// Inside a catch block of an OutOfMemory or a std::bad_alloc: throws OutOfMemory whose message is
// "<context>: <the failure>" ("reading data.bin (1.2 GiB): out of host memory"). Any other
// exception is rethrown unchanged.
[[noreturn]] void rethrow_out_of_memory(const std::string& context,
                                        SourceLocation where = SourceLocation::current());

// Throws kiln::Error with the given message; the location is the caller's.
[[noreturn]] void fail(const std::string& message,
                       SourceLocation where = SourceLocation::current());

// "core/tensor.cpp:42" from a source_location.
std::string short_location(const SourceLocation& where);

// Formats a check's message: each "{}" takes the next argument (printed with operator<<), "{{"
// and "}}" are literal braces. Deliberately tiny and free of fmt, because error.h reaches code
// compiled by nvcc, which cannot compile fmt's C++20 headers; use fmt::format elsewhere.
template <class... Args>
std::string format_message(std::string_view text, const Args&... args) {
  std::ostringstream out;
  auto emit_until_placeholder = [&]() {
    while (!text.empty()) {
      if (text.starts_with("{{") || text.starts_with("}}")) {
        out << text[0];
        text.remove_prefix(2);
      } else if (text.starts_with("{}")) {
        text.remove_prefix(2);
        return true;
      } else {
        out << text[0];
        text.remove_prefix(1);
      }
    }
    return false;
  };
  ((emit_until_placeholder() ? void(out << args) : void()), ...);
  emit_until_placeholder();
  return out.str();
}

}  // namespace kiln

// KILN_CHECK(cond, "format {}", args...): throws kiln::Error with the formatted message when cond
// is false (format_message's "{}" placeholders).
#define KILN_CHECK(cond, ...)                                \
  do {                                                        \
    if (!(cond)) [[unlikely]]                                 \
      ::kiln::fail(::kiln::format_message(__VA_ARGS__));      \
  } while (0)
