// The scalar 16-bit conversions of core/half.h on their edge values, as bit patterns (IEEE
// binary16, bfloat16; round to nearest, ties to even).
#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace kiln {
namespace {

float f(uint32_t bits) { return bits_float(bits); }
uint16_t to_bf16(float x) { return float_to_bf16_rne(x).bits; }
uint16_t to_f16(float x) { return float_to_f16_rne(x).bits; }

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(to_bf16(0.0f), 0x0000);
  EXPECT_EQ(to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(to_bf16(f(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(to_bf16(f(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(to_bf16(f(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(to_bf16(f(0x00000001u)), 0x0000);  // smallest subnormal: below half an ulp
  EXPECT_EQ(to_bf16(f(0x00010000u)), 0x0001);  // smallest bf16 subnormal, kept
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(to_bf16(f(0x7f7f7fffu)), 0x7f7f);                     // largest that stays finite
  EXPECT_EQ(to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::quiet_NaN()) & 0x7fc0, 0x7fc0);
  EXPECT_EQ(to_bf16(f(0x7f800001u)) & 0x7fc0, 0x7fc0);  // NaN with low payload stays NaN
  EXPECT_EQ(to_bf16(f(0xff800001u)) & 0x8000, 0x8000);  // and keeps its sign
}

TEST(Bf16, WidensExactly) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const float x = bf16_to_float(bf16{static_cast<uint16_t>(b)});
    EXPECT_EQ(float_bits(x), b << 16);
    if (!std::isnan(x)) {
      EXPECT_EQ(to_bf16(x), b);  // round trip
    }
  }
}

TEST(F16, RoundsToNearestEven) {
  EXPECT_EQ(to_f16(0.0f), 0x0000);
  EXPECT_EQ(to_f16(-0.0f), 0x8000);
  EXPECT_EQ(to_f16(1.0f), 0x3c00);
  EXPECT_EQ(to_f16(65504.0f), 0x7bff);          // max
  EXPECT_EQ(to_f16(65519.99f), 0x7bff);         // below the tie to 2^16
  EXPECT_EQ(to_f16(65520.0f), 0x7c00);          // tie: even is 2^16, so inf
  EXPECT_EQ(to_f16(1e10f), 0x7c00);
  EXPECT_EQ(to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie, even stays
  EXPECT_EQ(to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, odd rounds up
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and it: even, 0
  EXPECT_EQ(to_f16(std::ldexp(1.5f, -25)), 0x0001);  // above the tie
  EXPECT_EQ(to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 subnormal ulps: tie, to even 2
  EXPECT_EQ(to_f16(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);  // rounds up to normal
  EXPECT_EQ(to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
  EXPECT_EQ(to_f16(f(0x7f800001u)) & 0x7e00, 0x7e00);
}

TEST(F16, WidensExactly) {
  EXPECT_EQ(f16_to_float(f16{0x0001}), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_float(f16{0x03ff}), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_float(f16{0x7bff}), 65504.0f);
  EXPECT_EQ(f16_to_float(f16{0xfc00}), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_float(f16{0x7e00})));
  EXPECT_TRUE(std::signbit(f16_to_float(f16{0x8000})));
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const float x = f16_to_float(f16{static_cast<uint16_t>(b)});
    if (!std::isnan(x)) {
      EXPECT_EQ(to_f16(x), b) << b;  // round trip
    }
  }
}

}  // namespace
}  // namespace kiln
