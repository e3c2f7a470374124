#include "core/data/io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

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
  File f = open_or_fail(path, "rb", "open");
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    bytes.insert(bytes.end(), buf, buf + n);
    if (n < sizeof buf) {
      KILN_CHECK(!std::ferror(f.get()), "cannot read {}: {}", path, std::strerror(errno));
      break;
    }
  }
  return bytes;
}

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path) {
  errno = 0;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) fail(format_message("cannot open {}: {}", path, errno ? std::strerror(errno) : "out of memory"));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(gz, gzclose);
  gzbuffer(gz, 1 << 18);
  std::vector<uint8_t> bytes;
  size_t used = 0;
  for (;;) {
    if (bytes.size() - used < (1u << 20)) bytes.resize(std::max<size_t>(bytes.size() * 2, 1u << 22));
    const unsigned want = static_cast<unsigned>(std::min<size_t>(bytes.size() - used, 1u << 30));
    const int n = gzread(gz, bytes.data() + used, want);
    int err = Z_OK;
    const char* msg = gzerror(gz, &err);
    if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      fail(format_message("{} is corrupt or truncated: {}", path,
                          err == Z_ERRNO ? std::strerror(errno) : (msg ? msg : "gzip error")));
    }
    used += static_cast<size_t>(n);
    if (n == 0) break;
  }
  bytes.resize(used);
  bytes.shrink_to_fit();
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
