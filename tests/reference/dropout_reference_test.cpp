// cpu_fallback dropout against the Philox mask rule (definitions.h): the scale, the keep rate, and
// masks reproducible from (seed, offset) at any thread count.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/stream.h"
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
    const DropoutShape s{.count = 200001, .p = p, .seed = 0x1234abcdULL, .offset = 17};
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
  DropoutShape s{.count = 1001, .p = 0.5f, .seed = 42, .offset = 0};
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

}  // namespace
}  // namespace kiln
