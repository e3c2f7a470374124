// The finite-difference checker itself (tests/common/gradcheck.h): it passes a right gradient,
// names the index and both values of a wrong one, divides by the step the input's type can
// represent, works on double buffers, and samples indices spread over the whole buffer. The
// gradient checks of the cpu_fallback ops come from the op table (op_table_gradcheck_test.cpp).
#include "tests/common/gradcheck.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::check_gradient;
using kiln::testing::FiniteDifference;
using kiln::testing::gradcheck_indices;
using kiln::testing::random_floats;
using ::testing::HasSubstr;

// L = sum_i w_i * x_i^3, dL/dx_i = 3 w_i x_i^2.
template <class T>
struct Cubic {
  std::vector<T> x, w;
  double operator()() const {
    double l = 0.0;
    for (size_t i = 0; i < x.size(); ++i) l += static_cast<double>(w[i]) * std::pow(static_cast<double>(x[i]), 3);
    return l;
  }
  std::vector<T> gradient() const {
    std::vector<T> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) g[i] = static_cast<T>(3.0 * w[i] * x[i] * x[i]);
    return g;
  }
};

template <class T>
Cubic<T> cubic(int n) {
  const auto x = random_floats(n, 1, -2.0f, 2.0f), w = random_floats(n, 2);
  return {{x.begin(), x.end()}, {w.begin(), w.end()}};
}

TEST(GradientChecker, PassesARightGradient) {
  Cubic<float> f = cubic<float>(300);
  const auto g = f.gradient();
  EXPECT_TRUE(check_gradient(f.x, g, [&] { return f(); }, {.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3}, "cubic"));
}

TEST(GradientChecker, NamesTheIndexAndBothValuesOfAWrongGradient) {
  Cubic<float> f = cubic<float>(10);
  auto g = f.gradient();
  g[7] += 0.5f;
  const auto result = check_gradient(f.x, g, [&] { return f(); }, {.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3}, "cubic");
  ASSERT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("cubic: 1 of 10 checked gradients off"));
  EXPECT_THAT(result.message(), HasSubstr("cubic[7]: analytic "));
  EXPECT_THAT(result.message(), HasSubstr(" vs numeric "));
  // The buffer is restored after the check.
  EXPECT_EQ(f.x, cubic<float>(10).x);
}

TEST(GradientChecker, DividesByTheRepresentableStep) {
  // At 1000 a float moves in steps of 6.1e-5: x +- 1e-4 lands on 1000 +- 1.22e-4, so a quotient over
  // 2 eps would be 22% off for L = 3x; over the step taken it is exact.
  std::vector<float> x = {1000.0f, -1000.0f, 0.5f};
  const std::vector<float> g = {3.0f, 3.0f, 3.0f};
  auto linear = [&] { return 3.0 * (static_cast<double>(x[0]) + x[1] + x[2]); };
  EXPECT_TRUE(check_gradient(x, g, linear, {.eps = 1e-4, .atol = 1e-9, .rtol = 1e-9}, "linear"));
  // A step below the resolution of x is reported, not divided by.
  const auto tiny = check_gradient(x, g, linear, {.eps = 1e-6, .atol = 1e-9, .rtol = 1e-9}, "tiny");
  ASSERT_FALSE(tiny);
  EXPECT_THAT(tiny.message(), HasSubstr("below the resolution of x = 1000"));
}

TEST(GradientChecker, WorksOnDoubles) {
  Cubic<double> f = cubic<double>(64);
  const auto g = f.gradient();
  EXPECT_TRUE(check_gradient(f.x, g, [&] { return f(); }, {.eps = 1e-5, .atol = 1e-8, .rtol = 1e-7}, "cubic"));
  auto wrong = g;
  wrong[0] += 1e-4;  // an error that a float check's tolerance would let pass
  EXPECT_FALSE(check_gradient(f.x, wrong, [&] { return f(); }, {.eps = 1e-5, .atol = 1e-8, .rtol = 1e-7}, "cubic"));
}

TEST(GradientChecker, SamplesIndicesSpreadOverTheBuffer) {
  EXPECT_EQ(gradcheck_indices(5, 48), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  const auto idx = gradcheck_indices(10000, 48);
  EXPECT_GE(idx.size(), 48u);
  EXPECT_LE(idx.size(), 49u);
  EXPECT_LT(idx.front(), 200);
  EXPECT_GT(idx.back(), 9700);
  const FiniteDifference defaults;
  EXPECT_EQ(defaults.max_checks, 48);
}

}  // namespace
}  // namespace kiln
