// GPU binary cross-entropy terms: one memory-bound elementwise grid-stride loop (the math is
// kernels/shapes/bce.h's, shared with the CPU twin; they differ by the device libm's last-ulp
// rounding of logf/log1pf and nvcc's FMA contraction).
#include <cstdint>

#include "core/stream.h"
#include "kernels/bce.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
bce_forward_kernel(int64_t count, const float* __restrict__ p, const float* __restrict__ t, float* __restrict__ loss,
                   float* __restrict__ dp, float* __restrict__ dt) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < count; i += stride) {
    const float pi = p[i], ti = t[i];
    loss[i] = bce_term(pi, ti);
    if (dp) dp[i] = bce_slope(pi, ti);
    if (dt) dt[i] = bce_target_slope(pi);
  }
}

}  // namespace

void bce_forward(const BceShape& shape, const float* p, const float* t, float* loss, float* dp, float* dt,
                 const Stream& stream) {
  shape.validate();
  if (shape.count == 0) return;
  launch(bce_forward_kernel, grid_blocks(shape.count, kThreads), kThreads, 0, stream, shape.count, p, t, loss, dp,
         dt);
}

}  // namespace kiln::gpu
