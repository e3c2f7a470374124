#include "core/data/io.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include "core/allocator.h"
#include "core/error.h"
#include "core/files.h"

namespace kiln::data {

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_or_fail(const std::string& path, const char* mode, const char* verb) {
  std::FILE* f = std::fopen(path.c_str(), mode);
  if (!f) fail(format_message("cannot {} {}: {}", verb, path, std::strerror(errno)));
  return File(f);
}
}  // namespace

std::vector<uint8_t> read_file(const std::string& path) {
  require_regular_file(path, "data file");
  File f = open_or_fail(path, "rb", "open");
  std::vector<uint8_t> bytes;
  struct stat st {};
  const uint64_t size = ::fstat(fileno(f.get()), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  try {
    bytes.reserve(size);
    uint8_t buf[1 << 16];
    for (;;) {
      const size_t n = std::fread(buf, 1, sizeof buf, f.get());
      bytes.insert(bytes.end(), buf, buf + n);
      if (n < sizeof buf) {
        KILN_CHECK(!std::ferror(f.get()), "cannot read {}: {}", path, std::strerror(errno));
        break;
      }
    }
  } catch (const std::bad_alloc&) {
    rethrow_out_of_memory(fmt::format("reading {} ({})", path, format_bytes(std::max<uint64_t>(size, bytes.size()))));
  }
  return bytes;
}

MaybeGzipReader::MaybeGzipReader(const std::string& path) : path_(path) {
  require_regular_file(path, "data file");
  errno = 0;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) fail(format_message("cannot open {}: {}", path, errno ? std::strerror(errno) : "out of memory"));
  gz_ = gz;
  gzbuffer(gz, 1 << 18);
}

MaybeGzipReader::~MaybeGzipReader() { gzclose(static_cast<gzFile>(gz_)); }

size_t MaybeGzipReader::read(uint8_t* dst, size_t n) {
  gzFile gz = static_cast<gzFile>(gz_);
  size_t done = 0;
  while (done < n) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(gz, dst + done, want);
    int err = Z_OK;
    const char* msg = gzerror(gz, &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      fail(format_message("{} is corrupt or truncated: {}", path_,
                          err == Z_ERRNO ? std::strerror(errno) : (msg ? msg : "gzip error")));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path, uint64_t max_bytes) {
  MaybeGzipReader in(path);
  std::vector<uint8_t> bytes;
  size_t used = 0;
  try {
    for (;;) {
      if (bytes.size() - used < (1u << 20)) {
        size_t grown = std::max<size_t>(bytes.size() * 2, 1u << 22);
        // One byte past the limit is enough to tell that the file exceeds it.
        if (max_bytes < UINT64_MAX) grown = std::min<uint64_t>(grown, max_bytes + 1);
        if (grown <= used) grown = used + 1;
        bytes.resize(grown);
      }
      const size_t n = in.read(bytes.data() + used, bytes.size() - used);
      used += n;
      KILN_CHECK(used <= max_bytes,
                 "{} holds (or inflates to) more than {} bytes ({}), more than a file of its kind can hold: "
                 "refused before reading the rest",
                 path, max_bytes, format_bytes(max_bytes));
      if (n == 0 || used < bytes.size()) break;
    }
    bytes.resize(used);
    bytes.shrink_to_fit();
  } catch (const std::bad_alloc&) {
    rethrow_out_of_memory(fmt::format("reading {} ({} so far)", path, format_bytes(used)));
  }
  return bytes;
}

void write_file(const std::string& path, std::span<const uint8_t> bytes) {
  File f = open_or_fail(path, "wb", "create");
  KILN_CHECK(bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f.get()) == bytes.size(),
             "cannot write {}: {}", path, std::strerror(errno));
  KILN_CHECK(std::fclose(f.release()) == 0, "cannot write {}: {}", path, std::strerror(errno));
}

void write_gzip_file(const std::string& path, std::span<const uint8_t> bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  if (!gz) fail(format_message("cannot create {}: {}", path, std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - done, 1u << 30));
    if (gzwrite(gz, bytes.data() + done, chunk) != static_cast<int>(chunk)) {
      gzclose(gz);
      fail(format_message("cannot write {}", path));
    }
    done += chunk;
  }
  KILN_CHECK(gzclose(gz) == Z_OK, "cannot write {}", path);
}

}  // namespace kiln::data
