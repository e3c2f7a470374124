// The one finite-difference gradient checker of the test suites (op tables, cpu_fallback ops,
// layers, the recurrent cell on the device).
//
// Method: central differences of a scalar objective L (the caller's, computed in double: for a
// float op usually L = sum_i w_i * y_i with fixed random weights w, see weighted_sum), at a spread
// sample of indices of one input buffer:
//
//   numeric_i = (L(x + eps e_i) - L(x - eps e_i)) / (hi - lo),   hi = T(x_i + eps), lo = T(x_i - eps)
//
// dividing by the step actually representable in the input's type T (float or double), not by
// 2 eps: x_i + eps rounds to a float, and the quotient is exact for a function linear in x_i only
// when the divisor is the step that was taken. A check passes when
//
//   |analytic_i - numeric_i| <= atol + rtol * |numeric_i|
//
// Inputs must keep away from kinks (ReLU at 0, max-pooling ties) by more than eps: the caller
// chooses them so. eps large (1e-2 or more) suits ops linear in the perturbed input, where the
// quotient is exact but for rounding; smaller (1e-3) suits curvature.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

struct FiniteDifference {
  double eps = 1e-2;    // the step asked for (the step taken is what T can represent)
  double atol = 1e-3;   // allowed error: atol + rtol * |numeric|
  double rtol = 1e-3;
  int max_checks = 48;  // indices checked per buffer, spread evenly; all of them when n <= max_checks
};

// The indices a check visits in a buffer of n: every max(1, n / max_checks)-th, from half that.
inline std::vector<int64_t> gradcheck_indices(int64_t n, int max_checks) {
  const int64_t stride = std::max<int64_t>(1, n / std::max(1, max_checks));
  std::vector<int64_t> out;
  for (int64_t i = stride / 2; i < n; i += stride) out.push_back(i);
  return out;
}

// L = sum_i w[i] * y[i], in double.
template <class W, class Y>
double weighted_sum(const W* w, const Y* y, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * static_cast<double>(y[i]);
  return s;
}
template <class W, class Y>
double weighted_sum(const std::vector<W>& w, const std::vector<Y>& y) {
  return weighted_sum(w.data(), y.data(), static_cast<int64_t>(std::min(w.size(), y.size())));
}

// Checks analytic[i] = dL/dx[i] against central differences for the sampled i. objective() must
// recompute L from the current contents of x (which is perturbed and restored in place). `what`
// names the buffer in the failure message, which lists the first failing indices with both values.
template <class T, class A>
::testing::AssertionResult check_gradient(T* x, const A* analytic, int64_t n, const std::function<double()>& objective,
                                          const FiniteDifference& fd, const std::string& what) {
  std::ostringstream fails;
  fails.precision(7);
  int checked = 0, bad = 0;
  double worst = 0.0;
  int64_t worst_at = -1;
  for (const int64_t i : gradcheck_indices(n, fd.max_checks)) {
    const T v = x[i];
    const T hi = static_cast<T>(v + static_cast<T>(fd.eps)), lo = static_cast<T>(v - static_cast<T>(fd.eps));
    const double step = static_cast<double>(hi) - static_cast<double>(lo);
    x[i] = hi;
    const double lp = objective();
    x[i] = lo;
    const double lm = objective();
    x[i] = v;
    ++checked;
    const double numeric = (lp - lm) / step;
    const double ana = static_cast<double>(analytic[i]);
    const double err = std::fabs(ana - numeric);
    const double allowed = fd.atol + fd.rtol * std::fabs(numeric);
    if (!(err <= worst) || worst_at < 0) {
      worst = err;
      worst_at = i;
    }
    if (!(step > 0.0) || !(err <= allowed)) {
      if (bad++ < 6) {
        fails << "\n  " << what << "[" << i << "]: analytic " << ana << " vs numeric " << numeric << " (error " << err
              << ", allowed " << allowed;
        if (!(step > 0.0)) fails << "; eps " << fd.eps << " is below the resolution of x = " << v;
        fails << ")";
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << checked << " checked gradients off (eps "
                                       << fd.eps << ", atol " << fd.atol << ", rtol " << fd.rtol << "; max error "
                                       << worst << " at [" << worst_at << "])" << fails.str();
}

template <class T, class A>
::testing::AssertionResult check_gradient(std::vector<T>& x, const std::vector<A>& analytic,
                                          const std::function<double()>& objective, const FiniteDifference& fd,
                                          const std::string& what) {
  if (x.size() != analytic.size())
    return ::testing::AssertionFailure() << what << ": the analytic gradient has " << analytic.size()
                                         << " values, the input " << x.size();
  return check_gradient(x.data(), analytic.data(), static_cast<int64_t>(x.size()), objective, fd, what);
}

}  // namespace kiln::testing
