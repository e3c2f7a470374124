// safetensors BF16 and F16 tensors: written with their dtype and bits, read back exactly, and
// checked like F32 ones (byte counts per dtype).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "tests/common/temp_dir.h"

namespace kiln {
namespace {

TEST(SafetensorsHalf, Bf16AndF16RoundTrip) {
  testing::TempDir dir;
  const std::vector<float> values = {0.0f, -1.5f, 3.14159f, 65504.0f, 1e-6f, -1e30f};
  Tensor b = Tensor::empty({2, 3}, Device::cpu(), DType::BF16);
  Tensor h = Tensor::empty({6}, Device::cpu(), DType::F16);
  Tensor w = Tensor::from_host(std::span<const float>(values), {3, 2});
  for (size_t i = 0; i < values.size(); ++i) {
    b.data<bf16>()[i] = float_to_bf16_rne(values[i]);
    h.data<f16>()[i] = float_to_f16_rne(values[i]);
  }
  const std::string path = dir.path("half.safetensors");
  write_safetensors(path, {{"b", &b}, {"h", &h}, {"w", &w}}, {{"k", "v"}});

  const SafetensorsFile f = read_safetensors(path);
  const auto& eb = f.tensors.at("b");
  const auto& eh = f.tensors.at("h");
  EXPECT_EQ(eb.dtype, DType::BF16);
  EXPECT_EQ(eh.dtype, DType::F16);
  EXPECT_EQ(f.tensors.at("w").dtype, DType::F32);
  EXPECT_EQ(eb.shape, Shape({2, 3}));
  EXPECT_EQ(f.tensors.at("w").values, values);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(eb.bits16[i], b.data<bf16>()[i].bits);
    EXPECT_EQ(eh.bits16[i], h.data<f16>()[i].bits);
    EXPECT_EQ(eb.values[i], bf16_to_float(b.data<bf16>()[i]));
    EXPECT_EQ(eh.values[i], f16_to_float(h.data<f16>()[i]));
  }
  // The header says what PyTorch's safetensors expects.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find("\"dtype\":\"BF16\""), std::string::npos);
  EXPECT_NE(bytes.find("\"dtype\":\"F16\""), std::string::npos);
}

TEST(SafetensorsHalf, ByteCountsFollowTheDtype) {
  testing::TempDir dir;
  const std::string path = dir.path("bad.safetensors");
  // A BF16 tensor of 4 elements needs 8 bytes; the offsets give 16 (what F32 would need).
  const std::string header = R"({"x":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})";
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header << std::string(16, '\0');
  out.close();
  try {
    read_safetensors(path);
    FAIL() << "read a BF16 tensor with the wrong byte count";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs 8 bytes"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsHalf, OtherDtypesAreRefused) {
  testing::TempDir dir;
  Tensor i = Tensor::zeros({2}, Device::cpu(), DType::I32);
  EXPECT_THROW(write_safetensors(dir.path("i.safetensors"), {{"i", &i}}, {}), Error);
}

}  // namespace
}  // namespace kiln
