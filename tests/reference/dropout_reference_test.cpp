// cpu_fallback dropout against the Philox mask rule (definitions.h): the scale, the keep rate, and
// masks reproducible from (seed, offset) at any thread count. Sharded draws: one call over a global
// draw equals R calls over its pieces (first = piece start), on the CPU and, in device builds, on
// cuda:0 (the GPU kernels, or their emulation).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/device.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/dropout.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::random_floats;

TEST(DropoutReference, MaskRuleScaleAndStatistics) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
    SCOPED_TRACE(fmt::format("p={}", p));
    const DropoutShape s{.count = 200001, .p = p, .seed = 0x1234abcdULL, .offset = 17, .first = 0, .global_count = 0};
    const auto x = random_floats(s.count, 31);
    std::vector<float> y(x.size()), dx(x.size());
    std::vector<uint8_t> mask(x.size());
    cpu::dropout_forward(s, x.data(), y.data(), stream);
    cpu::dropout_backward(s, x.data(), dx.data(), stream);
    cpu::dropout_mask(s, mask.data(), stream);
    int64_t kept = 0;
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < s.count; ++i) {
      const bool k = ref::dropout_kept(s, i);
      ASSERT_EQ(mask[i], k ? 1 : 0) << i;
      ASSERT_EQ(y[i], k ? x[i] * scale : 0.0f) << i;
      ASSERT_EQ(dx[i], y[i]) << i;  // backward of dy = x is the same map
      kept += k;
    }
    // Binomial: 5 standard deviations.
    const double mean = (1.0 - p) * s.count, sd = std::sqrt(s.count * p * (1.0 - p));
    EXPECT_NEAR(static_cast<double>(kept), mean, 5 * sd + 1e-9);
  }
}

TEST(DropoutReference, ReproducibleFromSeedAndOffset) {
  const Stream stream = Stream::default_for(Device::cpu());
  DropoutShape s{.count = 1001, .p = 0.5f, .seed = 42, .offset = 0, .first = 0, .global_count = 0};
  std::vector<uint8_t> a(1001), b(1001), c(1001), d(1001);
  cpu::dropout_mask(s, a.data(), stream);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::dropout_mask(s, b.data(), stream);
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b) << "same (seed, offset): same mask, any thread count";
  s.offset = s.blocks_used();
  cpu::dropout_mask(s, c.data(), stream);
  EXPECT_NE(a, c) << "the next offset gives a fresh mask";
  // Offset o + 1 starts 4 elements (one Philox block) further along the stream of offset o.
  DropoutShape shifted = s;
  shifted.offset = s.offset + 1;
  cpu::dropout_mask(shifted, d.data(), stream);
  EXPECT_EQ(0, std::memcmp(c.data() + 4, d.data(), 997));
  s.seed = 43;
  s.offset = 0;
  cpu::dropout_mask(s, d.data(), stream);
  EXPECT_NE(a, d) << "another seed gives another mask";
  // The threshold rule at its edges.
  EXPECT_EQ(dropout_threshold(0.0f), 0u);
  EXPECT_EQ(dropout_threshold(0.5f), 0x80000000u);
  EXPECT_EQ(dropout_threshold(0.25f), 0x40000000u);
}

// One device's forward, backward and mask of a draw, on host vectors (copied to and from cuda:0).
struct Drawn {
  std::vector<float> y, dx;
  std::vector<uint8_t> mask;
};

Drawn draw_on(Device device, const DropoutShape& s, const float* x, const float* dy) {
  const int64_t n = s.count;
  Drawn d{.y = std::vector<float>(static_cast<size_t>(n)), .dx = std::vector<float>(static_cast<size_t>(n)),
          .mask = std::vector<uint8_t>(static_cast<size_t>(n))};
  const Stream stream = Stream::default_for(device);
  if (device.is_cpu()) {
    cpu::dropout_forward(s, x, d.y.data(), stream);
    cpu::dropout_backward(s, dy, d.dx.data(), stream);
    cpu::dropout_mask(s, d.mask.data(), stream);
    return d;
  }
#if KILN_WITH_DEVICE
  const std::vector<float> xs(x, x + n), dys(dy, dy + n);
  const Tensor xt = Tensor::from_host(xs, {n}, device), dyt = Tensor::from_host(dys, {n}, device);
  Tensor yt = Tensor::empty({n}, device), dxt = Tensor::empty({n}, device);
  Tensor mt = Tensor::empty({(n + 3) / 4}, device, DType::I32);
  gpu::dropout_forward(s, xt.data<float>(), yt.data<float>(), stream);
  gpu::dropout_backward(s, dyt.data<float>(), dxt.data<float>(), stream);
  gpu::dropout_mask(s, reinterpret_cast<uint8_t*>(mt.data<int32_t>()), stream);
  stream.synchronize();
  d.y = yt.to_host();
  d.dx = dxt.to_host();
  const std::vector<int32_t> words = mt.to_host_i32();
  std::memcpy(d.mask.data(), words.data(), static_cast<size_t>(n));
#endif
  return d;
}

// The key property of sharded draws: drawing a global batch in one call equals drawing it in R
// pieces [r*B/R, (r+1)*B/R) with first = piece start and global_count = B, element by element, and
// every piece advances the offset by the global draw's blocks.
void expect_pieces_equal_whole(Device device) {
  for (int64_t global : {int64_t{12}, int64_t{1001}, int64_t{4096}, int64_t{13 * 8}}) {
    const auto x = random_floats(global, 5), dy = random_floats(global, 6);
    const DropoutShape whole{.count = global, .p = 0.4f, .seed = 77, .offset = 9, .first = 0, .global_count = 0};
    const Drawn all = draw_on(device, whole, x.data(), dy.data());
    for (int64_t pieces : {2, 3}) {
      for (int64_t r = 0; r < pieces; ++r) {
        const int64_t lo = r * global / pieces, hi = (r + 1) * global / pieces;
        SCOPED_TRACE(fmt::format("{}: global {}, piece [{}, {}) of {}", device.str(), global, lo, hi, pieces));
        DropoutShape part = whole;
        part.count = hi - lo;
        part.first = static_cast<uint64_t>(lo);
        part.global_count = global;
        ASSERT_EQ(part.blocks_used(), whole.blocks_used());
        const Drawn got = draw_on(device, part, x.data() + lo, dy.data() + lo);
        for (int64_t i = 0; i < part.count; ++i) {
          ASSERT_EQ(got.mask[i], all.mask[lo + i]) << i;
          ASSERT_EQ(got.y[i], all.y[lo + i]) << i;
          ASSERT_EQ(got.dx[i], all.dx[lo + i]) << i;
          ASSERT_EQ(got.mask[i], ref::dropout_kept(part, i) ? 1 : 0) << i;
        }
      }
    }
  }
}

TEST(DropoutReference, ShardedPiecesEqualTheWholeDrawOnCpu) { expect_pieces_equal_whole(Device::cpu()); }

TEST(DropoutReference, ShardedPiecesEqualTheWholeDrawOnCuda) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << why;
  expect_pieces_equal_whole(Device::cuda(0));
}

TEST(DropoutReference, ShardedSliceMustLieInTheGlobalDraw) {
  DropoutShape s{.count = 5, .p = 0.5f, .seed = 1, .offset = 0, .first = 0, .global_count = 0};
  EXPECT_EQ(s.blocks_used(), 2u);
  s.first = 1;  // not sharded (global = count): only first = 0 fits
  EXPECT_THROW(s.validate(), Error);
  s.global_count = 6;
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.blocks_used(), 2u);
  s.first = 2;
  EXPECT_THROW(s.validate(), Error);
  s.global_count = 9;
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.blocks_used(), 3u);  // the global draw's blocks, whatever the slice
}

}  // namespace
}  // namespace kiln
