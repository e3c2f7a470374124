// Checks on the files kiln is asked to read (data files, configs), before they are opened.
#pragma once

#include <string>
#include <string_view>

namespace kiln {

// Refuses a path that is not a regular file: a FIFO (opening it would block until a writer comes),
// a character or block device (/dev/zero never ends), a socket or a directory. Checked with stat()
// before the file is opened, so nothing blocks; a symbolic link is followed. A path that does not
// exist (or cannot be looked at) passes: the opener's own error names it. The message reads
// "<what> <path> is a FIFO, not a regular file ...", e.g. what = "data file".
void require_regular_file(const std::string& path, std::string_view what);

}  // namespace kiln
