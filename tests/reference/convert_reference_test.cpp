// The CPU conversions FP32 <-> BF16/F16 (cpu_fallback/convert.cpp, i.e. core/half.h) against the
// definitional rounding of tests/reference/definitions.h: edge values, every 16-bit pattern for the
// widening direction, and a sweep of random floats across all exponents for the narrowing one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/stream.h"
#include "kernels/convert.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

std::vector<float> test_values() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, bits_float(0x3f808000u), bits_float(0x3f818000u),
                          1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11),
                          std::ldexp(1.0f, -24), std::ldexp(1.0f, -25), std::ldexp(3.0f, -25),
                          std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26), bits_float(0x00000001u),
                          bits_float(0x00010000u), bits_float(0x00018000u), 65504.0f, 65519.0f, 65520.0f,
                          std::numeric_limits<float>::max(), bits_float(0x7f7f7fffu), inf, -inf,
                          std::numeric_limits<float>::quiet_NaN()};
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) v.push_back(bits_float(bits(rng)));  // every exponent, NaNs too
  return v;
}

void expect_same(double want, float got, float x, const char* what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << "(" << x << ")";
  } else {
    EXPECT_EQ(want, static_cast<double>(got)) << what << "(" << x << ")";
    EXPECT_EQ(std::signbit(want), std::signbit(got)) << what << "(" << x << ")";
  }
}

TEST(ConvertReference, NarrowingRoundsToNearestEven) {
  const std::vector<float> x = test_values();
  const ConvertShape s{.n = static_cast<int64_t>(x.size())};
  std::vector<bf16> b(x.size());
  std::vector<f16> h(x.size());
  const Stream st = Stream::default_for(Device::cpu());
  cpu::f32_to_bf16(s, x.data(), b.data(), st);
  cpu::f32_to_f16(s, x.data(), h.data(), st);
  for (size_t i = 0; i < x.size(); ++i) {
    expect_same(ref::round_to_bf16(x[i]), bf16_to_float(b[i]), x[i], "bf16");
    expect_same(ref::round_to_f16(x[i]), f16_to_float(h[i]), x[i], "f16");
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(ConvertReference, WideningIsExact) {
  std::vector<bf16> b(65536);
  std::vector<f16> h(65536);
  for (uint32_t i = 0; i < 65536; ++i) b[i].bits = h[i].bits = static_cast<uint16_t>(i);
  std::vector<float> fb(65536), fh(65536);
  const ConvertShape s{.n = 65536};
  const Stream st = Stream::default_for(Device::cpu());
  cpu::bf16_to_f32(s, b.data(), fb.data(), st);
  cpu::f16_to_f32(s, h.data(), fh.data(), st);
  for (uint32_t i = 0; i < 65536; ++i) {
    EXPECT_EQ(float_bits(fb[i]), i << 16);
    // binary16: sign, 5-bit exponent (bias 15), 10-bit mantissa, subnormals at exponent 0.
    const int e = (i >> 10) & 31, m = i & 1023;
    const double mag = e == 0 ? std::ldexp(m, -24) : e == 31 ? (m ? NAN : HUGE_VAL) : std::ldexp(1024 + m, e - 25);
    expect_same((i & 0x8000) ? -mag : mag, fh[i], static_cast<float>(i), "f16 bits");
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace kiln
