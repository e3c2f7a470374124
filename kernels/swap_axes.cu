// GPU axis swap (semantics in kernels/shapes/swap_axes.h): one thread per output element in a
// grid-stride loop over (B*A) rows x inner; writes are coalesced, and so are reads along `inner`
// (the feature axis, the long one in the recurrent layers' use). Indices are 32-bit (checked).
#include <climits>

#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/swap_axes.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
swap_axes_kernel(int a_dim, int b_dim, int inner, const float* __restrict__ x, float* __restrict__ y) {
  const int total = a_dim * b_dim * inner;
  for (int idx = blockIdx.x * kThreads + threadIdx.x; idx < total; idx += gridDim.x * kThreads) {
    const int row = idx / inner, k = idx - row * inner;  // output row = b * A + a
    const int b = row / a_dim, a = row - b * a_dim;
    y[idx] = x[(a * b_dim + b) * inner + k];
  }
}

}  // namespace

void swap_axes(const SwapAxesShape& s, const float* x, float* y, const Stream& stream) {
  s.validate();
  KILN_CHECK(s.size() < INT_MAX, "swap_axes: {} elements exceed the 32-bit indexing of the kernel", s.size());
  launch(swap_axes_kernel, grid_blocks(s.size(), kThreads), kThreads, 0, stream, static_cast<int>(s.a),
         static_cast<int>(s.b), static_cast<int>(s.inner), x, y);
}

}  // namespace kiln::gpu
