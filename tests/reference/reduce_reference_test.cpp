// cpu_fallback reductions (sum, sum of squares: against double sums, the same bits at any thread
// count) and the accuracy count.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/stream.h"
#include "kernels/reduce.h"
#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::random_floats;

TEST(ReduceReference, SumSquaresAndAccuracy) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (int64_t n : {0, 1, 7, 16384, 16385, 1000003}) {
    const auto x = random_floats(n, 61);
    double s = 0, ss = 0;
    for (float v : x) s += v, ss += static_cast<double>(v) * v;
    float out = NAN, out2 = NAN;
    cpu::reduce_sum({.count = n}, x.data(), &out, stream);
    cpu::reduce_sum_squares({.count = n}, x.data(), &out2, stream);
    EXPECT_NEAR(out, s, 1e-6 * std::max(1.0, std::fabs(s))) << n;
    EXPECT_NEAR(out2, ss, 1e-6 * std::max(1.0, ss)) << n;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    float one = NAN;
    cpu::reduce_sum({.count = n}, x.data(), &one, stream);
    omp_set_num_threads(saved);
    EXPECT_EQ(one, out) << "same bits for any thread count";
  }
  const AccuracyShape a{.n = 5, .c = 3};
  const std::vector<float> logits = {0, 1, 2, /**/ 5, 5, 1, /**/ 1, 0, 0, /**/ 0, 2, 1, /**/ 9, 0, 0};
  const std::vector<int32_t> labels = {2, 1, 0, 1, -100};  // row 1: tie -> first max (0) != 1
  int32_t correct = -1;
  cpu::count_correct(a, logits.data(), labels.data(), &correct, stream);
  EXPECT_EQ(correct, 3);
}

}  // namespace
}  // namespace kiln
