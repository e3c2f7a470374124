// Central finite differences against the analytic backward of a cpu_fallback op.
//
// The ops are float, so the objective L = sum_i g_i * y_i (g fixed random weights) is summed in
// double from the float outputs, the step is the difference actually representable in float, and
// eps is large (1e-2 for ops linear in the perturbed input, where the difference quotient is exact
// but for rounding; 1e-3 near curvature). Inputs are chosen away from kinks (ReLU at 0, max ties)
// by the tests themselves.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

// L = sum_i g[i] * y[i] in double.
inline double weighted_sum(const std::vector<float>& g, const std::vector<float>& y) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(g[i]) * y[i];
  return s;
}

// Checks analytic[i] against (L(in + e_i) - L(in - e_i)) / step for up to max_checks indices
// spread over the buffer. objective() must recompute L from the current contents of `in`.
inline ::testing::AssertionResult check_gradient(std::vector<float>& in, const std::vector<float>& analytic,
                                                 const std::function<double()>& objective, float eps,
                                                 double atol, double rtol, const std::string& what,
                                                 int max_checks = 48) {
  if (in.size() != analytic.size())
    return ::testing::AssertionFailure() << what << ": gradient size " << analytic.size() << " != " << in.size();
  const size_t n = in.size();
  const size_t stride = std::max<size_t>(1, n / static_cast<size_t>(max_checks));
  double worst = 0.0;
  std::ostringstream fails;
  int bad = 0;
  for (size_t i = stride / 2; i < n; i += stride) {
    const float v = in[i];
    const float hi = v + eps, lo = v - eps;
    in[i] = hi;
    const double lp = objective();
    in[i] = lo;
    const double lm = objective();
    in[i] = v;
    const double fd = (lp - lm) / (static_cast<double>(hi) - static_cast<double>(lo));
    const double err = std::fabs(fd - analytic[i]);
    worst = std::max(worst, err);
    if (!(err <= atol + rtol * std::fabs(fd))) {
      if (bad++ < 5) fails << "\n  [" << i << "] analytic " << analytic[i] << " vs finite difference " << fd;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " gradients off (atol " << atol << ", rtol " << rtol
                                       << ", max error " << worst << ")" << fails.str();
}

}  // namespace kiln::testing
