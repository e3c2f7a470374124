// cpu_fallback training-step statistics against the loops the trainer ran on the host before they
// moved to the device: the running sums of loss * counted and correct counts, the last loss, the
// first non-finite step, and clipping's scale from the global norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/stream.h"
#include "kernels/train_stats.h"
#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::random_floats;

TEST(TrainStatsReference, AccumulatesLikeTheHostLoop) {
  const Stream stream = Stream::default_for(Device::cpu());
  const auto losses = random_floats(25, 71);
  std::vector<double> acc(kStatSlots, 0.0);
  double loss_sum = 0, correct_sum = 0;
  for (int64_t t = 0; t < 25; ++t) {
    const float loss = t == 20 ? NAN : 3.0f * std::abs(losses[t]);
    const int32_t correct = static_cast<int32_t>(t % 7);
    const int64_t counted = 10 + t;
    cpu::accumulate_step_stats({.counted = counted, .step = t + 1}, &loss, &correct, acc.data(), stream);
    loss_sum += static_cast<double>(loss) * static_cast<double>(counted);
    correct_sum += static_cast<double>(correct);
    if (t == 10) std::fill(acc.begin(), acc.begin() + kWindowSlots, 0.0);  // a log line: the window restarts
  }
  EXPECT_TRUE(std::isnan(acc[kEpochLoss]));
  EXPECT_TRUE(std::isnan(loss_sum));
  EXPECT_EQ(acc[kEpochCorrect], correct_sum);
  EXPECT_EQ(acc[kFirstBadStep], 21.0);
  EXPECT_TRUE(std::isnan(acc[kFirstBadLoss]));
  EXPECT_EQ(acc[kLastLoss], static_cast<double>(3.0f * std::abs(losses[24])));
  double window_correct = 0;
  for (int64_t t = 11; t < 25; ++t) window_correct += static_cast<double>(t % 7);
  EXPECT_EQ(acc[kWindowCorrect], window_correct);

  // Finite losses: the same bits as the host's double sum.
  std::vector<double> fin(kStatSlots, 0.0);
  double host = 0;
  for (int64_t t = 0; t < 25; ++t) {
    const float loss = losses[t];
    const int32_t correct = 1;
    cpu::accumulate_step_stats({.counted = 33, .step = t + 1}, &loss, &correct, fin.data(), stream);
    host += static_cast<double>(loss) * 33.0;
  }
  EXPECT_EQ(fin[kWindowLoss], host);
  EXPECT_EQ(fin[kEpochLoss], host);
  EXPECT_EQ(fin[kFirstBadStep], 0.0);
}

TEST(TrainStatsReference, ClipScaleIsMaxNormOverNormWhenAbove) {
  const Stream stream = Stream::default_for(Device::cpu());
  const std::vector<float> sums = {4.0f, 0.25f, 12.0f, 0.0f};
  double total = 0;
  for (float s : sums) total += s;
  const double norm = std::sqrt(total);
  float scale[2];
  cpu::clip_scale({.parts = 4, .max_norm = 2.0}, sums.data(), scale, stream);
  EXPECT_EQ(scale[0], static_cast<float>(2.0 / (norm + 1e-6)));
  EXPECT_EQ(scale[1], static_cast<float>(norm));
  cpu::clip_scale({.parts = 4, .max_norm = norm}, sums.data(), scale, stream);  // not above: no clipping
  EXPECT_EQ(scale[0], 1.0f);
  cpu::clip_scale({.parts = 0, .max_norm = 1.0}, sums.data(), scale, stream);
  EXPECT_EQ(scale[0], 1.0f);
  EXPECT_EQ(scale[1], 0.0f);
}

}  // namespace
}  // namespace kiln
