// GPU batch normalisation. Training forward and backward: one block per channel (grid-stride over
// the channels), which reads the channel's N rows of `inner` values with its threads along each row
// (coalesced; short rows, as BatchNorm1d's, through one flattened index instead), reduces with
// deterministic block sums (kernels/block_reduce.cuh) and then writes y (dx) in a last pass over the
// same values, so a channel costs one launch and three (backward: two) reads of x. The statistics
// are two-pass (the mean, then the centred squares), never E[x²] - E[x]², which cancels. One block
// per channel fills the GPU when C is at least the SM count (ResNet's 128..2048-channel layers);
// the 64-channel stem layers use half an H200, where a (channel, split) two-stage reduction is the
// known remedy (not done yet). Evaluation is elementwise: blockIdx.y walks the N*C planes, threads
// the plane's values.
#include "core/stream.h"
#include "kernels/batchnorm.h"
#include "kernels/block_reduce.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

// Calls f(offset) for this thread's share of channel c's values, in a fixed order.
template <class F>
__device__ __forceinline__ void for_channel(const BatchNormShape& s, int c, F&& f) {
  if (s.inner >= kThreads / 2) {
    for (int r = 0; r < s.n; ++r) {
      const int64_t row = (static_cast<int64_t>(r) * s.c + c) * s.inner;
      for (int64_t i = threadIdx.x; i < s.inner; i += kThreads) f(row + i);
    }
  } else {
    const int inner = static_cast<int>(s.inner), count = static_cast<int>(s.count());
    for (int j = threadIdx.x; j < count; j += kThreads) {
      const int r = j / inner;
      f((static_cast<int64_t>(r) * s.c + c) * inner + (j - r * inner));
    }
  }
}

__global__ void __launch_bounds__(kThreads)
batchnorm_train_kernel(BatchNormShape s, const float* __restrict__ x, const float* __restrict__ gamma,
                       const float* __restrict__ beta, float* __restrict__ y, float* __restrict__ mean,
                       float* __restrict__ invstd, float* __restrict__ running_mean, float* __restrict__ running_var) {
  const float count = static_cast<float>(s.count());
  for (int c = blockIdx.x; c < s.c; c += gridDim.x) {
    float sum = 0.0f;
    for_channel(s, c, [&](int64_t at) { sum += __ldg(x + at); });
    const float m = detail::block_sum<kThreads>(sum) / count;
    float sq = 0.0f;
    for_channel(s, c, [&](int64_t at) {
      const float d = __ldg(x + at) - m;
      sq += d * d;
    });
    const float var = detail::block_sum<kThreads>(sq) / count;
    const float is = 1.0f / sqrtf(var + s.eps);
    if (threadIdx.x == 0) {
      mean[c] = m;
      invstd[c] = is;
      if (running_mean) {
        running_mean[c] = (1.0f - s.momentum) * running_mean[c] + s.momentum * m;
        running_var[c] = (1.0f - s.momentum) * running_var[c] + s.momentum * var * (count / (count - 1.0f));
      }
    }
    const float g = gamma ? __ldg(gamma + c) * is : is, b = beta ? __ldg(beta + c) : 0.0f;
    for_channel(s, c, [&](int64_t at) { y[at] = (__ldg(x + at) - m) * g + b; });
  }
}

__global__ void __launch_bounds__(kThreads)
batchnorm_eval_kernel(BatchNormShape s, const float* __restrict__ x, const float* __restrict__ gamma,
                      const float* __restrict__ beta, const float* __restrict__ running_mean,
                      const float* __restrict__ running_var, float* __restrict__ y) {
  const int64_t planes = static_cast<int64_t>(s.n) * s.c;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const int c = static_cast<int>(pl % s.c);
    const float is = 1.0f / sqrtf(__ldg(running_var + c) + s.eps);
    const float g = gamma ? __ldg(gamma + c) * is : is, b = beta ? __ldg(beta + c) : 0.0f;
    const float m = __ldg(running_mean + c);
    const int64_t base = pl * s.inner;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < s.inner;
         i += static_cast<int64_t>(gridDim.x) * kThreads)
      y[base + i] = (__ldg(x + base + i) - m) * g + b;
  }
}

__global__ void __launch_bounds__(kThreads)
batchnorm_backward_kernel(BatchNormShape s, const float* __restrict__ x, const float* __restrict__ gamma,
                          const float* __restrict__ mean, const float* __restrict__ invstd,
                          const float* __restrict__ dy, float* __restrict__ dx, float* __restrict__ dgamma,
                          float* __restrict__ dbeta) {
  const float count = static_cast<float>(s.count());
  for (int c = blockIdx.x; c < s.c; c += gridDim.x) {
    const float m = __ldg(mean + c), is = __ldg(invstd + c);
    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
    for_channel(s, c, [&](int64_t at) {
      const float g = __ldg(dy + at);
      sum_dy += g;
      sum_dy_xhat += g * ((__ldg(x + at) - m) * is);
    });
    const float a = detail::block_sum<kThreads>(sum_dy);
    const float b = detail::block_sum<kThreads>(sum_dy_xhat);
    if (threadIdx.x == 0) {
      if (dgamma) dgamma[c] += b;
      if (dbeta) dbeta[c] += a;
    }
    const float k = (gamma ? __ldg(gamma + c) : 1.0f) * is / count;
    for_channel(s, c, [&](int64_t at) { dx[at] = k * (count * __ldg(dy + at) - a - (__ldg(x + at) - m) * is * b); });
  }
}

}  // namespace

void batchnorm_forward_train(const BatchNormShape& shape, const float* x, const float* gamma, const float* beta,
                             float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                             const Stream& stream) {
  shape.validate_training();
  KILN_CHECK((running_mean == nullptr) == (running_var == nullptr),
             "batchnorm: give both running statistics or neither");
  launch(batchnorm_train_kernel, dim3(grid_blocks(shape.c, 1, 65535)), kThreads, 0, stream, shape, x, gamma, beta, y,
         mean, invstd, running_mean, running_var);
}

void batchnorm_forward_eval(const BatchNormShape& shape, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, const Stream& stream) {
  shape.validate();
  const dim3 grid(grid_blocks(shape.inner, kThreads, 1024),
                  grid_blocks(static_cast<int64_t>(shape.n) * shape.c, 1, 65535));
  launch(batchnorm_eval_kernel, grid, kThreads, 0, stream, shape, x, gamma, beta, running_mean, running_var, y);
}

void batchnorm_backward(const BatchNormShape& shape, const float* x, const float* gamma, const float* mean,
                        const float* invstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                        const Stream& stream) {
  shape.validate_training();
  launch(batchnorm_backward_kernel, dim3(grid_blocks(shape.c, 1, 65535)), kThreads, 0, stream, shape, x, gamma, mean,
         invstd, dy, dx, dgamma, dbeta);
}

}  // namespace kiln::gpu
