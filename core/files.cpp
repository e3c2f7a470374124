#include "core/files.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include "core/error.h"

namespace kiln {

void require_regular_file(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // missing or unreadable: the opener says so
  if (S_ISREG(st.st_mode)) return;
  const char* kind = S_ISFIFO(st.st_mode)  ? "FIFO (a named pipe)"
                     : S_ISCHR(st.st_mode) ? "character device"
                     : S_ISBLK(st.st_mode) ? "block device"
                     : S_ISSOCK(st.st_mode) ? "socket"
                     : S_ISDIR(st.st_mode)  ? "directory"
                                            : "special file";
  fail(fmt::format("{} {} is a {}, not a regular file: kiln reads data and configs only from regular files",
                   what, path, kind));
}

}  // namespace kiln
