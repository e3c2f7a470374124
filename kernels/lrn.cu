// GPU LRN across channels. One thread per output element: blockIdx.y walks the N*C planes and the
// threads of blockIdx.x the H*W pixels of a plane (grid-stride both ways), so a warp reads 32
// neighbouring pixels of each channel in the window: coalesced, and the `size` channel planes a
// block touches are reread from L1/L2 by the neighbouring channels' blocks rather than from DRAM.
// Each thread sums its window in the CPU twin's order (ascending channel), so results differ from
// the CPU only by FMA contraction and powf's last ulp. The backward gathers over the channels whose
// window contains c (kernels/shapes/lrn.h), computing dy*y/scale on the fly: no scratch buffer, and
// each dx element is written once (deterministic).
#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/lrn.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
lrn_forward_kernel(LrnShape s, float a, const float* __restrict__ x, float* __restrict__ y,
                   float* __restrict__ scale) {
  const int HW = s.h * s.w;
  const int planes = s.n * s.c;
  for (int pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const int ch = pl % s.c;
    const int lo = s.window_lo(ch), hi = s.window_hi(ch);
    const float* xn = x + static_cast<int64_t>(pl - ch) * HW;  // image n, channel 0
    const int64_t at0 = static_cast<int64_t>(pl) * HW;
    for (int p = blockIdx.x * kThreads + threadIdx.x; p < HW; p += gridDim.x * kThreads) {
      float sq = 0.0f;
      for (int j = lo; j <= hi; ++j) {
        const float v = __ldg(xn + static_cast<int64_t>(j) * HW + p);
        sq += v * v;
      }
      const float sc = s.k + a * sq;
      scale[at0 + p] = sc;
      y[at0 + p] = __ldg(x + at0 + p) * powf(sc, -s.beta);
    }
  }
}

__global__ void __launch_bounds__(kThreads)
lrn_backward_kernel(LrnShape s, float coef, const float* __restrict__ x, const float* __restrict__ y,
                    const float* __restrict__ scale, const float* __restrict__ dy, float* __restrict__ dx) {
  const int HW = s.h * s.w;
  const int planes = s.n * s.c;
  for (int pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const int ch = pl % s.c;
    // j such that ch is in W(j): [ch - (size-1)/2, ch + size/2] within [0, C)
    int lo = ch - (s.size - 1) / 2, hi = ch + s.size / 2;
    if (lo < 0) lo = 0;
    if (hi > s.c - 1) hi = s.c - 1;
    const int64_t n0 = static_cast<int64_t>(pl - ch) * HW;  // image n, channel 0
    const int64_t at0 = static_cast<int64_t>(pl) * HW;
    for (int p = blockIdx.x * kThreads + threadIdx.x; p < HW; p += gridDim.x * kThreads) {
      float acc = 0.0f;
      for (int j = lo; j <= hi; ++j) {
        const int64_t at = n0 + static_cast<int64_t>(j) * HW + p;
        acc += __ldg(dy + at) * __ldg(y + at) / __ldg(scale + at);
      }
      const int64_t at = at0 + p;
      dx[at] = __ldg(dy + at) * powf(__ldg(scale + at), -s.beta) - coef * __ldg(x + at) * acc;
    }
  }
}

static dim3 grid_for(const LrnShape& s) {
  return dim3(grid_blocks(s.plane(), kThreads, 1024), grid_blocks(static_cast<int64_t>(s.n) * s.c, 1, 65535));
}

}  // namespace

void lrn_forward(const LrnShape& shape, const float* x, float* y, float* scale, const Stream& stream) {
  shape.validate();
  KILN_CHECK(shape.x_size() <= INT32_MAX, "lrn: {} elements exceed the kernel's 32-bit plane indexing",
             shape.x_size());
  const float a = shape.alpha / static_cast<float>(shape.size);
  launch(lrn_forward_kernel, grid_for(shape), kThreads, 0, stream, shape, a, x, y, scale);
}

void lrn_backward(const LrnShape& shape, const float* x, const float* y, const float* scale, const float* dy,
                  float* dx, const Stream& stream) {
  shape.validate();
  KILN_CHECK(shape.x_size() <= INT32_MAX, "lrn: {} elements exceed the kernel's 32-bit plane indexing",
             shape.x_size());
  const float coef = 2.0f * shape.alpha * shape.beta / static_cast<float>(shape.size);
  launch(lrn_backward_kernel, grid_for(shape), kThreads, 0, stream, shape, coef, x, y, scale, dy, dx);
}

}  // namespace kiln::gpu
