// tests/recurrent: the embedding op's out-of-range ids (kernels/shapes/embedding.h). Both twins give
// such a token a NaN row forward (the quiet NaN 0x7fc00000) and no gradient backward, never reading
// outside the table, and agree bit for bit with each other. (The Embedding layer's error for bad
// ids on the CPU is tested in lstm_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "core/device.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/embedding.h"
#include "tests/common/device.h"

namespace kiln {
namespace {

constexpr uint32_t kQuietNan = 0x7fc00000u;

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

struct Case {
  EmbeddingShape s{.n = 6, .v = 3, .d = 5};
  std::vector<int32_t> ids = {1, -1, 3, 0, 1, 2147483647};  // positions 1, 2 and 5 are outside [0, 3)
  std::vector<float> weight, dy;
  Case() {
    for (int i = 0; i < s.v * s.d; ++i) weight.push_back(0.25f * static_cast<float>(i) - 1.0f);
    for (int i = 0; i < s.n * s.d; ++i) dy.push_back(0.5f + static_cast<float>(i));
  }
  bool valid(size_t i) const { return ids[i] >= 0 && ids[i] < s.v; }
};

TEST(EmbeddingOp, OutOfRangeIdsGiveNanRowsAndNoGradientOnTheCpu) {
  const Case k;
  const Stream st = Stream::default_for(Device::cpu());
  std::vector<float> y(static_cast<size_t>(k.s.out_size()), 7.0f);
  cpu::embedding_forward(k.s, k.ids.data(), k.weight.data(), y.data(), st);
  for (size_t i = 0; i < k.ids.size(); ++i)
    for (int c = 0; c < k.s.d; ++c) {
      const float got = y[i * k.s.d + c];
      if (k.valid(i)) EXPECT_EQ(got, k.weight[static_cast<size_t>(k.ids[i] * k.s.d + c)]) << i;
      else EXPECT_EQ(bits(got), kQuietNan) << "token " << i << " feature " << c;
    }

  std::vector<float> dw(static_cast<size_t>(k.s.table_size()), 1.0f);
  cpu::embedding_backward(k.s, k.ids.data(), k.dy.data(), dw.data(), st);
  for (int v = 0; v < k.s.v; ++v)
    for (int c = 0; c < k.s.d; ++c) {
      float sum = 0.0f;
      for (size_t i = 0; i < k.ids.size(); ++i)
        if (k.ids[i] == v) sum += k.dy[i * k.s.d + c];
      EXPECT_EQ(dw[static_cast<size_t>(v * k.s.d + c)], 1.0f + sum) << "row " << v;
    }
}

#if KILN_WITH_DEVICE
TEST(EmbeddingOp, OutOfRangeIdsAreTreatedAlikeOnTheGpu) {
  KILN_REQUIRE_DEVICE();
  const Case k;
  const Stream host = Stream::default_for(Device::cpu());
  const Stream dev = Stream::default_for(Device::cuda(0));
  std::vector<float> y(static_cast<size_t>(k.s.out_size()));
  std::vector<float> dw(static_cast<size_t>(k.s.table_size()), 1.0f);
  cpu::embedding_forward(k.s, k.ids.data(), k.weight.data(), y.data(), host);
  cpu::embedding_backward(k.s, k.ids.data(), k.dy.data(), dw.data(), host);

  const Tensor ids = Tensor::from_host(std::span<const int32_t>(k.ids), Shape{k.s.n}, Device::cuda(0));
  const Tensor weight = Tensor::from_host(std::span<const float>(k.weight), Shape{k.s.v, k.s.d}, Device::cuda(0));
  const Tensor dy = Tensor::from_host(std::span<const float>(k.dy), Shape{k.s.n, k.s.d}, Device::cuda(0));
  Tensor gy = Tensor::empty(Shape{k.s.n, k.s.d}, Device::cuda(0));
  Tensor gdw = Tensor::from_host(std::span<const float>(std::vector<float>(dw.size(), 1.0f)), Shape{k.s.v, k.s.d},
                                 Device::cuda(0));
  gpu::embedding_forward(k.s, ids.data<int32_t>(), weight.data<float>(), gy.data<float>(), dev);
  gpu::embedding_backward(k.s, ids.data<int32_t>(), dy.data<float>(), gdw.data<float>(), dev);
  const std::vector<float> got_y = gy.to_host(), got_dw = gdw.to_host();
  EXPECT_EQ(std::memcmp(got_y.data(), y.data(), y.size() * 4), 0) << "forward differs from the CPU's";
  EXPECT_EQ(std::memcmp(got_dw.data(), dw.data(), dw.size() * 4), 0) << "backward differs from the CPU's";
}
#endif

}  // namespace
}  // namespace kiln
