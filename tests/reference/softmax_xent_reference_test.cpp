// cpu_fallback softmax cross-entropy against the definitional loops.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/softmax_xent.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(SoftmaxXentReference, ManyShapesWithIgnoredRows) {
  const Stream stream = Stream::default_for(Device::cpu());
  uint32_t seed = 99;
  for (int n : {1, 3, 7, 32}) {
    for (int c : {1, 2, 10, 13, 1000}) {
      SCOPED_TRACE(fmt::format("N{} C{}", n, c));
      const SoftmaxXentShape s{.n = n, .c = c};
      const auto logits = random_floats(s.size(), ++seed, -5.0f, 5.0f);
      std::vector<int32_t> labels(n);
      for (int i = 0; i < n; ++i) labels[i] = (i % 4 == 3) ? -100 : (i * 7 + 3) % c;
      std::vector<float> rl(n, NAN), d(static_cast<size_t>(s.size()), NAN);
      std::vector<double> rlr(n), dr(d.size());
      float mean = NAN;
      cpu::softmax_xent_forward(s, logits.data(), labels.data(), rl.data(), &mean, stream);
      const double meanr = ref::softmax_xent_forward<double>(s, logits.data(), labels.data(), rlr.data());
      ASSERT_TRUE(all_close(rl, rlr, {1e-6, 1e-6}, "row loss"));
      EXPECT_NEAR(mean, meanr, 1e-6 + 1e-6 * std::fabs(meanr));
      cpu::softmax_xent_backward(s, logits.data(), labels.data(), 0.7f, d.data(), stream);
      ref::softmax_xent_backward<double>(s, logits.data(), labels.data(), 0.7, dr.data());
      ASSERT_TRUE(all_close(d, dr, {1e-7, 1e-5}, "dlogits"));
      for (int i = 0; i < n; ++i)
        if (labels[i] == -100) {
          EXPECT_EQ(rl[i], 0.0f);
          for (int j = 0; j < c; ++j) EXPECT_EQ(d[static_cast<size_t>(i) * c + j], 0.0f);
        }
    }
  }
}

TEST(SoftmaxXentReference, StableForHugeLogits) {
  const Stream stream = Stream::default_for(Device::cpu());
  const SoftmaxXentShape s{.n = 3, .c = 4};
  const std::vector<float> logits = {1e4f, -1e4f, 0.0f, 1e4f,   // two equal maxima
                                     -1e4f, -1e4f, -1e4f, -1e4f,  // all equal, very negative
                                     1e4f, -1e4f, 5.0f, 3.0f};
  const std::vector<int32_t> labels = {1, 2, 0};
  std::vector<float> rl(3), d(12);
  float mean;
  cpu::softmax_xent_forward(s, logits.data(), labels.data(), rl.data(), &mean, stream);
  EXPECT_NEAR(rl[0], 2e4f + std::log(2.0f), 1e-2);
  EXPECT_NEAR(rl[1], std::log(4.0f), 1e-6);
  EXPECT_NEAR(rl[2], 0.0f, 1e-6);
  cpu::softmax_xent_backward(s, logits.data(), labels.data(), 1.0f, d.data(), stream);
  for (float v : d) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(d[0], 0.5f / 3, 1e-7);
  EXPECT_NEAR(d[1], -1.0f / 3, 1e-7);
  EXPECT_NEAR(d[6], (0.25f - 1.0f) / 3, 1e-7);
}

TEST(SoftmaxXentReference, AllIgnoredAndBadLabels) {
  const Stream stream = Stream::default_for(Device::cpu());
  const SoftmaxXentShape s{.n = 2, .c = 3, .ignore_label = 7};
  const std::vector<float> logits(6, 0.5f);
  std::vector<float> d(6, NAN);
  float mean = NAN;
  const std::vector<int32_t> ignored = {7, 7};
  cpu::softmax_xent_forward(s, logits.data(), ignored.data(), nullptr, &mean, stream);
  EXPECT_EQ(mean, 0.0f);
  cpu::softmax_xent_backward(s, logits.data(), ignored.data(), 1.0f, d.data(), stream);
  for (float v : d) EXPECT_EQ(v, 0.0f);
  const std::vector<int32_t> bad = {0, 3};
  try {
    cpu::softmax_xent_forward(s, logits.data(), bad.data(), nullptr, &mean, stream);
    FAIL() << "no error for label 3 of 3 classes";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("label 3 of row 1"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace kiln
