// GPU training-step statistics: two single-thread kernels (a handful of scalars; what matters is
// that they run on the device, queued behind the step, so the host never waits for them). One
// thread also makes the arithmetic the CPU twin's, in the same order: the same bits everywhere.
#include <cstdint>

#include "core/stream.h"
#include "kernels/launch.cuh"
#include "kernels/train_stats.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 32;  // one warp; lane 0 works

__global__ void __launch_bounds__(kThreads)
accumulate_step_stats_kernel(StepStatsShape s, const float* __restrict__ loss, const int32_t* __restrict__ correct,
                             double* __restrict__ acc) {
  if (threadIdx.x != 0) return;
  const double l = loss[0];
  const double c = correct[0];
  const double weighted = l * static_cast<double>(s.counted);  // exact (see the contract)
  acc[kWindowLoss] += weighted;
  acc[kEpochLoss] += weighted;
  acc[kWindowCorrect] += c;
  acc[kEpochCorrect] += c;
  acc[kLastLoss] = l;
  const bool finite = l - l == 0.0;  // false for NaN and +-inf
  if (!finite && acc[kFirstBadStep] == 0.0) {
    acc[kFirstBadStep] = static_cast<double>(s.step);
    acc[kFirstBadLoss] = l;
  }
}

__global__ void __launch_bounds__(kThreads)
clip_scale_kernel(ClipShape s, const float* __restrict__ sums, float* __restrict__ scale) {
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int i = 0; i < s.parts; ++i) total += static_cast<double>(sums[i]);
  const double norm = sqrt(total);
  scale[0] = norm > s.max_norm ? static_cast<float>(s.max_norm / (norm + s.eps)) : 1.0f;
  scale[1] = static_cast<float>(norm);
}

}  // namespace

void accumulate_step_stats(const StepStatsShape& shape, const float* loss, const int32_t* correct, double* acc,
                           const Stream& stream) {
  shape.validate();
  launch(accumulate_step_stats_kernel, 1, kThreads, 0, stream, shape, loss, correct, acc);
}

void clip_scale(const ClipShape& shape, const float* sums, float* scale, const Stream& stream) {
  shape.validate();
  launch(clip_scale_kernel, 1, kThreads, 0, stream, shape, sums, scale);
}

}  // namespace kiln::gpu
