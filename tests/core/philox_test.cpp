#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/philox.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/random.h"
#include "tests/common/device.h"

namespace kiln {
namespace {

// Random123's known-answer vectors for Philox4x32-10 (its kat_vectors file).
TEST(Philox, KnownAnswerVectors) {
  struct Case {
    Philox4x32 ctr;
    uint32_t k0, k1;
    Philox4x32 expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Case& c : cases) {
    const Philox4x32 r = philox4x32_10(c.ctr, c.k0, c.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(r.v[j], c.expected.v[j]) << "word " << j;
  }
}

TEST(Philox, StreamsDependOnSeedAndOffset) {
  EXPECT_NE(philox_u32(1, 0, 0), philox_u32(2, 0, 0));
  EXPECT_EQ(philox_u32(1, 5, 0), philox_u32(1, 4, 4));  // offset counts blocks of 4
  EXPECT_NE(philox_u32(1, 0, 0), philox_u32(1, 0, 1));
}

TEST(Philox, UniformIsInRangeWithTheRightMean) {
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float u = philox_uniform(7, 0, i, -1.0f, 3.0f);
    ASSERT_GE(u, -1.0f);
    ASSERT_LT(u, 3.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 1.0, 0.02);
}

TEST(Philox, NormalHasMeanZeroAndUnitVariance) {
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = philox_normal(11, 3, i, 0.0f, 1.0f);
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.015);
}

TEST(Philox, DeterministicLogAndSinCosAreAccurate) {
  for (float x : {1e-7f, 0.001f, 0.3f, 0.70710677f, 0.7071068f, 0.999f, 1.0f}) {
    EXPECT_NEAR(philox_detail::log_det(x), std::log(x), 3e-7 * std::fabs(std::log(x)) + 1e-7) << x;
  }
  for (int i = 0; i < 1000; ++i) {
    const float u = i / 1000.0f;
    float s, c;
    philox_detail::sincos_turn(u, s, c);
    EXPECT_NEAR(s, std::sin(2 * M_PI * u), 3e-7) << u;
    EXPECT_NEAR(c, std::cos(2 * M_PI * u), 3e-7) << u;
  }
}

TEST(Philox, CpuFillMatchesElementFormulas) {
  const Stream cpu = Stream::default_for(Device::cpu());
  const int64_t n = 1001;  // not a multiple of 4
  std::vector<float> u(n), z(n);
  cpu::fill_uniform({.n = n, .seed = 42, .offset = 17, .lo = -0.5f, .hi = 0.5f}, u.data(), cpu);
  cpu::fill_normal({.n = n, .seed = 42, .offset = 17, .mean = 1.0f, .stddev = 0.1f}, z.data(), cpu);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(u[i], philox_uniform(42, 17, i, -0.5f, 0.5f)) << i;
    ASSERT_EQ(z[i], philox_normal(42, 17, i, 1.0f, 0.1f)) << i;
  }
}

#if KILN_WITH_DEVICE
// Device code draws bit-identical numbers to the host.
TEST(Philox, DeviceFillEqualsHostFillBitForBit) {
  KILN_REQUIRE_DEVICE();
  const Stream host = Stream::default_for(Device::cpu());
  const Stream dev = Stream::default_for(Device::cuda());
  for (int64_t n : {1, 3, 4, 1023, 70001}) {
    std::vector<float> hu(n), hz(n);
    const RandomShape us{.n = n, .seed = 9, .offset = 100, .lo = 0.0f, .hi = 1.0f};
    const RandomShape zs{.n = n, .seed = 9, .offset = 100, .mean = 0.0f, .stddev = 2.0f};
    cpu::fill_uniform(us, hu.data(), host);
    cpu::fill_normal(zs, hz.data(), host);
    Tensor du = Tensor::empty({n}, Device::cuda()), dz = Tensor::empty({n}, Device::cuda());
    gpu::fill_uniform(us, du.data<float>(), dev);
    gpu::fill_normal(zs, dz.data<float>(), dev);
    const auto gu = du.to_host(), gz = dz.to_host();
    EXPECT_EQ(std::memcmp(gu.data(), hu.data(), n * 4), 0) << "uniform, n=" << n;
    EXPECT_EQ(std::memcmp(gz.data(), hz.data(), n * 4), 0) << "normal, n=" << n;
  }
}
#endif

}  // namespace
}  // namespace kiln
