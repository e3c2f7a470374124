// Whole-file reading and writing for the data sources (and for tests that make fixtures).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln::data {

// The bytes of a file as stored. Throws kiln::Error naming the file if it cannot be read.
std::vector<uint8_t> read_file(const std::string& path);
// The bytes of a file, gunzipped if it is gzip-compressed (detected from the content, not the
// name; zlib's gz* API). A corrupt or truncated gzip stream is a kiln::Error naming the file.
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path);

// Writes `bytes` to `path` (replacing it); gzip-compressed by the second.
void write_file(const std::string& path, std::span<const uint8_t> bytes);
void write_gzip_file(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace kiln::data
