// Whole-file reading and writing for the data sources (and for tests that make fixtures).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln::data {

// The bytes of a file as stored. Throws kiln::Error naming the file if it cannot be read, or is not
// a regular file (a FIFO, a device: refused before opening, core/files.h); running out of memory
// for it is a kiln::OutOfMemory naming the file and its size.
std::vector<uint8_t> read_file(const std::string& path);
// The bytes of a file, gunzipped if it is gzip-compressed (detected from the content, not the
// name; zlib's gz* API). A corrupt or truncated gzip stream is a kiln::Error naming the file, and
// so is a file that inflates to more than max_bytes (checked while inflating, before the memory
// is taken: a small file must not fill the memory).
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path, uint64_t max_bytes = UINT64_MAX);

// A regular file read from the start, gunzipped if it is gzip-compressed: for formats whose header
// says how many bytes follow (IDX), read piecewise so that the promise is checked before the rest
// is inflated.
class MaybeGzipReader {
 public:
  explicit MaybeGzipReader(const std::string& path);  // refuses a path that is not a regular file
  ~MaybeGzipReader();
  MaybeGzipReader(const MaybeGzipReader&) = delete;
  MaybeGzipReader& operator=(const MaybeGzipReader&) = delete;
  // Reads up to n bytes into dst: n, or fewer at the end of the data. Corruption is a kiln::Error.
  size_t read(uint8_t* dst, size_t n);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile
};

// Writes `bytes` to `path` (replacing it); gzip-compressed by the second.
void write_file(const std::string& path, std::span<const uint8_t> bytes);
void write_gzip_file(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace kiln::data
