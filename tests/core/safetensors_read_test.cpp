// safetensors files that lie (tests/fuzz/corpus/safetensors/crash-*, replayed by fuzz_safetensors)
// must be a kiln::Error naming the file and the problem.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/common/temp_dir.h"

namespace kiln {
namespace {

std::string write_raw(const testing::TempDir& dir, const std::string& name, const std::string& header,
                      const std::string& data = {}) {
  const std::string path = dir.path(name);
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header << data;
  return path;
}

std::string error_of_read(const std::string& path) {
  try {
    read_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// tests/fuzz/corpus/safetensors/crash-byte-count-wraps (seen by reading the code while writing the
// fuzz target; its consistency check reports it): 2^62 F32 elements need 2^64 bytes, which
// wrapped to 0 in 64 bits, so empty offsets [0, 0] were accepted and the entry held no values
// (main's fix: at most 2^60 elements, checked while reading the shape).
TEST(SafetensorsRead, ByteCountThatWouldWrapIsRefused) {
  testing::TempDir dir;
  const std::string path =
      write_raw(dir, "wrap.safetensors", R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})");
  const std::string msg = error_of_read(path);
  EXPECT_NE(msg.find("wrap.safetensors' is not a valid safetensors file: tensor 'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has an impossible shape [4611686018427387904]: more than 2^60 elements"), std::string::npos)
      << msg;
}

// Dimensions past int64 (read as negative) or whose product overflows name the file and tensor, not
// only the shape ("shape dimension 0 is negative: ... (in ())").
TEST(SafetensorsRead, ShapesPastSixtyFourBitsNameTheFileAndTensor) {
  testing::TempDir dir;
  for (const std::string shape : {"[9223372036854775808]", "[4294967296,4294967296]"}) {
    const std::string path = write_raw(dir, "big.safetensors",
                                       R"({"t":{"dtype":"F16","shape":)" + shape + R"(,"data_offsets":[0,0]}})");
    const std::string msg = error_of_read(path);
    EXPECT_NE(msg.find("big.safetensors' is not a valid safetensors file: tensor 't' has an impossible shape " +
                       shape + ": more than 2^60 elements"),
              std::string::npos)
        << msg;
  }
}

}  // namespace
}  // namespace kiln
