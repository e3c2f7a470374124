// Philox random fills. One thread per Philox block (4 outputs), a grid-stride loop, an explicit
// tail for n not a multiple of 4. Memory-bound: each thread writes 16 contiguous bytes.
#include "core/philox.h"
#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/random.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
fill_uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t{kThreads} + threadIdx.x; b < blocks;
       b += int64_t{gridDim.x} * kThreads) {
    const Philox4x32 r = philox_block(seed, offset, static_cast<uint64_t>(b));
    for (int j = 0; j < 4; ++j) {
      const int64_t i = b * 4 + j;
      if (i < n) out[i] = uniform_in(r.v[j], lo, hi);
    }
  }
}

__global__ void __launch_bounds__(kThreads)
fill_normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float stddev) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t{kThreads} + threadIdx.x; b < blocks;
       b += int64_t{gridDim.x} * kThreads) {
    float v[4];
    normal4_from_block(philox_block(seed, offset, static_cast<uint64_t>(b)), mean, stddev, v);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = b * 4 + j;
      if (i < n) out[i] = v[j];
    }
  }
}

// Enough blocks to fill the device, never more than the work (nor than a test's grid limit).
static unsigned grid_for(int64_t n) { return grid_blocks((n + 3) / 4, kThreads, 4096); }

}  // namespace

void fill_uniform(const RandomShape& s, float* out, const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  launch(fill_uniform_kernel, dim3(grid_for(s.n)), dim3(kThreads), 0, stream, out, s.n, s.seed, s.offset, s.lo,
         s.hi);
}

void fill_normal(const RandomShape& s, float* out, const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  launch(fill_normal_kernel, dim3(grid_for(s.n)), dim3(kThreads), 0, stream, out, s.n, s.seed, s.offset, s.mean,
         s.stddev);
}

}  // namespace kiln::gpu
