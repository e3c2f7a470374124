// cpu_fallback binary cross-entropy terms against their definition in double (PyTorch's
// binary_cross_entropy: logs clamped at -100, the slope's denominator at 1e-12), including
// probabilities and targets of exactly 0 and 1, and the evaluation call without slopes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/stream.h"
#include "kernels/bce.h"
#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(BceReference, TermsAndSlopes) {
  const Stream stream = Stream::default_for(Device::cpu());
  const BceShape s{.count = 100003};  // crosses the parallel threshold, odd
  auto p = random_floats(s.count, 21, 0.0f, 1.0f);
  const auto t = random_floats(s.count, 22, 0.0f, 1.0f);
  p[0] = 0.0f;  // log 0 clamped: loss t * 100 (+ 0), slope (0 - t) / 1e-12
  p[1] = 1.0f;
  p[2] = 1e-30f;
  std::vector<float> loss(p.size()), dp(p.size()), dt(p.size());
  cpu::bce_forward(s, p.data(), t.data(), loss.data(), dp.data(), dt.data(), stream);
  std::vector<double> lr(p.size()), dpr(p.size()), dtr(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double pi = p[i], ti = t[i];
    const double lp = std::max(std::log(pi), -100.0), l1p = std::max(std::log1p(-pi), -100.0);
    lr[i] = -(ti * lp + (1 - ti) * l1p);
    dpr[i] = (pi - ti) / std::max(pi * (1 - pi), 1e-12);
    dtr[i] = l1p - lp;
  }
  ASSERT_TRUE(all_close(loss, lr, {1e-6, 1e-5}, "loss"));
  ASSERT_TRUE(all_close(dp, dpr, {1e-6, 1e-5}, "dp"));
  ASSERT_TRUE(all_close(dt, dtr, {1e-6, 1e-5}, "dt"));
  EXPECT_FLOAT_EQ(loss[0], 100.0f * t[0]);
  EXPECT_FLOAT_EQ(loss[1], 100.0f * (1.0f - t[1]));
  // Evaluation: the same terms without the slopes.
  std::vector<float> loss_only(p.size());
  cpu::bce_forward(s, p.data(), t.data(), loss_only.data(), nullptr, nullptr, stream);
  EXPECT_EQ(0, std::memcmp(loss_only.data(), loss.data(), loss.size() * 4));
}

}  // namespace
}  // namespace kiln
