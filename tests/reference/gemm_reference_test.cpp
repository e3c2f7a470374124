// cpu_fallback gemm against the definitional triple loop in double: both transposes, alpha, beta
// (beta = 0 ignores C, even NaN) and odd sizes.
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

}  // namespace
}  // namespace kiln
