// Shared by the libFuzzer targets (tests/fuzz/README.md): a temporary file for the parsers that
// take a path, and the rule that kiln::Error is the expected answer to a bad input. Anything else
// (a crash, an ASan/UBSan report, another exception escaping, a leak, a timeout, more memory than
// -rss_limit_mb/-malloc_limit_mb) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.h"

// libFuzzer's entry point: declared here so that -Wmissing-declarations is content.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace kiln::fuzz {

// A file under $TMPDIR (default /tmp) unique to this process, removed when the process ends.
class TempFile {
 public:
  explicit TempFile(const std::string& name) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/kiln_fuzz_" +
            std::to_string(::getpid()) + "_" + name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Replaces the file's contents with `size` bytes; returns the path.
  const std::string& write(const void* data, size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
      std::fprintf(stderr, "fuzz: cannot write %s\n", path_.c_str());
      std::abort();
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `body`; a kiln::Error is the expected outcome for bad input (its message must say
// something), every other exception escapes to libFuzzer, which reports it.
template <class Body>
void expect_only_kiln_errors(Body&& body) {
  try {
    body();
  } catch (const kiln::Error& e) {
    if (e.message().empty()) {
      std::fprintf(stderr, "fuzz: kiln::Error with an empty message at %s\n", e.location().c_str());
      std::abort();
    }
  }
}

}  // namespace kiln::fuzz
