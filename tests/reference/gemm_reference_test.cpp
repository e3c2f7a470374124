// cpu_fallback gemm against the definitional triple loop in double: both transposes, alpha, beta
// (beta = 0 ignores C, even NaN) and odd sizes; gemm_rounded (TF32, BF16, F16 operands) against
// the same loop on operands rounded element by element.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/stream.h"
#include "kernels/gemm.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::accumulation_tolerance;
using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(GemmReference, TransposesAndOddSizes) {
  const Stream stream = Stream::default_for(Device::cpu());
  uint32_t seed = 1;
  for (int m : {1, 3, 17})
    for (int n : {1, 7, 33})
      for (int k : {1, 13, 127})
        for (int t = 0; t < 4; ++t) {
          GemmShape s{.m = m, .n = n, .k = k, .trans_a = (t & 1) != 0, .trans_b = (t & 2) != 0,
                      .alpha = t == 3 ? 0.5f : 1.0f, .beta = t >= 2 ? 0.75f : 0.0f};
          SCOPED_TRACE(fmt::format("M{} N{} K{} ta{} tb{} alpha{} beta{}", m, n, k, s.trans_a, s.trans_b, s.alpha,
                                   s.beta));
          const auto a = random_floats(s.a_size(), ++seed), b = random_floats(s.b_size(), ++seed);
          auto c = random_floats(s.c_size(), ++seed);
          if (s.beta == 0.0f) std::fill(c.begin(), c.end(), NAN);  // beta = 0 ignores C, even NaN
          std::vector<double> cr(c.begin(), c.end());
          cpu::gemm(s, a.data(), b.data(), c.data(), stream);
          ref::gemm<double>(s, a.data(), b.data(), cr.data());
          ASSERT_TRUE(all_close(c, cr, accumulation_tolerance(k + 1), "gemm"));
        }
}

// The definition of MathPrecision (kernels/shapes/precision.h): each operand rounded, then an exact
// FP32 GEMM. Also: the rounding really happens (the result differs from FP32's) and F32 is gemm().
TEST(GemmReference, RoundedOperands) {
  const Stream stream = Stream::default_for(Device::cpu());
  uint32_t seed = 100;
  for (MathPrecision p : {MathPrecision::F32, MathPrecision::TF32, MathPrecision::BF16, MathPrecision::F16})
    for (int t = 0; t < 4; ++t) {
      GemmShape s{.m = 19, .n = 11, .k = 37, .trans_a = (t & 1) != 0, .trans_b = (t & 2) != 0,
                  .alpha = 1.5f, .beta = t >= 2 ? 0.5f : 0.0f};
      SCOPED_TRACE(fmt::format("{} ta{} tb{}", precision_name(p), s.trans_a, s.trans_b));
      const auto a = random_floats(s.a_size(), ++seed), b = random_floats(s.b_size(), ++seed);
      auto c = random_floats(s.c_size(), ++seed);
      std::vector<float> ra(a), rb(b);
      for (float& x : ra) x = round_to_precision(p, x);
      for (float& x : rb) x = round_to_precision(p, x);
      std::vector<double> cr(c.begin(), c.end()), c32(c.begin(), c.end());
      cpu::gemm_rounded(s, p, a.data(), b.data(), c.data(), stream);
      ref::gemm<double>(s, ra.data(), rb.data(), cr.data());
      ref::gemm<double>(s, a.data(), b.data(), c32.data());
      ASSERT_TRUE(all_close(c, cr, accumulation_tolerance(s.k + 1), "gemm_rounded"));
      if (p != MathPrecision::F32) {
        EXPECT_FALSE(all_close(c, c32, accumulation_tolerance(s.k + 1), "vs FP32"));
      }
    }
}

}  // namespace
}  // namespace kiln
