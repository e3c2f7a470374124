// Test helpers shared by tests/reference and tests/gradcheck (and usable by the parity suite):
// seeded random buffers and a tolerance check that reports the max error and the first mismatch.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

inline std::vector<float> random_floats(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = dist(gen);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Tolerance of a float result against a double reference computed from the same float inputs:
// |got - ref| <= atol + rtol*|ref|. For a sum of `terms` products of magnitude <= `scale`,
// float rounding grows like terms * 2^-24 * scale (worst case), hence accumulation_tolerance.
struct Tolerance {
  double atol = 1e-6;
  double rtol = 1e-5;
};
inline Tolerance accumulation_tolerance(int64_t terms, double scale = 1.0) {
  return {4.0 * static_cast<double>(terms) * 6e-8 * scale + 1e-7, 1e-5};
}

// Compares n values; on failure says how many mismatched, the first mismatch and the max error.
template <class Got, class Ref>
::testing::AssertionResult all_close(const Got* got, const Ref* ref, int64_t n, Tolerance tol,
                                     const std::string& what = "") {
  int64_t bad = 0, first = -1, worst = -1;
  double max_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    double err = std::fabs(g - r);
    if (std::isinf(r) && g == r) err = 0.0;
    if (std::isnan(err)) err = INFINITY;
    const bool ok = err <= tol.atol + tol.rtol * std::fabs(r);
    if (worst < 0 || err > max_err) {
      max_err = err;
      worst = i;
    }
    if (!ok) {
      ++bad;
      if (first < 0) first = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(9);
  os << what << ": " << bad << " of " << n << " values off (atol " << tol.atol << ", rtol " << tol.rtol
     << "); first at [" << first << "]: got " << static_cast<double>(got[first]) << ", want "
     << static_cast<double>(ref[first]) << "; max error " << max_err << " at [" << worst << "]";
  return ::testing::AssertionFailure() << os.str();
}

template <class Got, class Ref>
::testing::AssertionResult all_close(const std::vector<Got>& got, const std::vector<Ref>& ref, Tolerance tol,
                                     const std::string& what = "") {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " != " << ref.size();
  return all_close(got.data(), ref.data(), static_cast<int64_t>(got.size()), tol, what);
}

}  // namespace kiln::testing
