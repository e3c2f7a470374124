// GPU dynamic loss scaling: scale_gradient is a grid-stride elementwise kernel; loss_scale_update
// is one thread (a handful of scalars, queued behind the step so the host never waits), doing the
// CPU twin's arithmetic in the same order: the same bits everywhere.
#include <cstdint>

#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/loss_scale.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
scale_gradient_kernel(int64_t n, MathPrecision p, const float* __restrict__ factor, float* __restrict__ x) {
  const float f = factor[0];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    x[i] = round_to_precision(p, x[i] * f);
}

__global__ void __launch_bounds__(32)
loss_scale_update_kernel(LossScaleShape s, const float* __restrict__ sums, float* __restrict__ state,
                         float* __restrict__ out) {
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int i = 0; i < s.parts; ++i) total += static_cast<double>(sums[i]);
  loss_scale_step(s, total, state, out);
}

}  // namespace

void scale_gradient(const ScaleGradientShape& s, const float* factor, float* x, const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  launch(scale_gradient_kernel, grid_blocks(s.n, kThreads), kThreads, 0, stream, s.n, s.precision, factor, x);
}

void loss_scale_update(const LossScaleShape& s, const float* sums, float* state, float* out, const Stream& stream) {
  s.validate();
  launch(loss_scale_update_kernel, 1, 32, 0, stream, s, sums, state, out);
}

}  // namespace kiln::gpu
