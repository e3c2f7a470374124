#include "core/error.h"

#include <fmt/format.h>

#include <new>

namespace kiln {

std::string short_location(const SourceLocation& where) {
  // The build maps the source tree's prefix away (-fmacro-prefix-map), so paths are already
  // relative to the repository: "core/tensor.cpp".
  return fmt::format("{}:{}", where.file_name(), where.line());
}

Error::Error(const std::string& message, SourceLocation where)
    : std::runtime_error(fmt::format("{} [{}]", message, short_location(where))),
      message_(message),
      location_(short_location(where)) {}

void fail(const std::string& message, SourceLocation where) { throw Error(message, where); }

void rethrow_out_of_memory(const std::string& context, SourceLocation where) {
  try {
    throw;
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(fmt::format("{}: {}", context, e.message()), where);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("{}: out of host memory", context), where);
  }
}

}  // namespace kiln
