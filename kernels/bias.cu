// GPU bias add and bias gradient.
//
// bias_add: y viewed as rows. For planes of at least 32 elements (conv activations) blockIdx.y walks
// the N*C (n, c) rows and the threads of blockIdx.x walk a row, float4 when the row length and the
// pointer allow it; the bias value is one load per row. For short rows (inner < 32: fully connected
// features have inner == 1) blockIdx.y walks the N images and the threads walk the C*inner
// contiguous elements of an image, so a warp still touches 128 contiguous bytes.
//
// bias_backward, deterministic (no atomics), double accumulation like the CPU twin:
//  - inner < 32: one thread per channel sums its N*inner elements in (n, i) order (for inner == 1,
//    neighbouring threads read neighbouring channels: coalesced);
//  - otherwise a two-pass split reduction: block (split, c) sums images [split*nb, split*nb + nb) of
//    channel c (threads walk contiguous i) into a double partial in the device workspace; a second
//    kernel adds the partials of each channel in split order and accumulates into db. nb depends
//    only on the shape (about 64K elements per block), so the result is the same on every GPU and
//    every grid.
#include <cstdint>

#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/bias.h"
#include "kernels/block_reduce.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kShortRow = 32;               // inner below this: the "features" kernels
constexpr int64_t kSplitElements = int64_t{1} << 16;  // elements per partial-sum block

__global__ void __launch_bounds__(kThreads)
bias_add_rows_kernel(BiasShape s, bool vec, const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t rows = static_cast<int64_t>(s.n) * s.c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  // The channel of `row`, advanced with the row (no 64-bit division in the loop).
  const int step = static_cast<int>(gridDim.y % static_cast<unsigned>(s.c));
  int ch = static_cast<int>(blockIdx.y % static_cast<unsigned>(s.c));
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const float b = __ldg(bias + ch);
    ch += step;
    if (ch >= s.c) ch -= s.c;
    float* yr = y + row * s.inner;
    if (vec) {
      float4* y4 = reinterpret_cast<float4*>(yr);
      for (int64_t i = tid; i < s.inner / 4; i += stride) {
        float4 v = y4[i];
        v.x += b;
        v.y += b;
        v.z += b;
        v.w += b;
        y4[i] = v;
      }
    } else {
      for (int64_t i = tid; i < s.inner; i += stride) yr[i] += b;
    }
  }
}

__global__ void __launch_bounds__(kThreads)
bias_add_short_kernel(BiasShape s, const float* __restrict__ bias, float* __restrict__ y) {
  const int len = s.c * static_cast<int>(s.inner);  // < 32 * C
  const int inner = static_cast<int>(s.inner);
  for (int64_t n = blockIdx.y; n < s.n; n += gridDim.y) {
    float* yn = y + n * len;
    for (int j = blockIdx.x * kThreads + threadIdx.x; j < len; j += gridDim.x * kThreads)
      yn[j] += __ldg(bias + (inner == 1 ? j : j / inner));
  }
}

__global__ void __launch_bounds__(kThreads)
bias_backward_short_kernel(BiasShape s, const float* __restrict__ dy, float* __restrict__ db) {
  const int64_t row_len = static_cast<int64_t>(s.c) * s.inner;
  for (int c = blockIdx.x * kThreads + threadIdx.x; c < s.c; c += gridDim.x * kThreads) {
    double acc = 0.0;
    const float* d = dy + c * s.inner;
    for (int n = 0; n < s.n; ++n, d += row_len)
      for (int64_t i = 0; i < s.inner; ++i) acc += __ldg(d + i);
    db[c] += static_cast<float>(acc);
  }
}

// partial[c * splits + split] = sum over images [split*nb, min(N, split*nb + nb)) of channel c.
__global__ void __launch_bounds__(kThreads)
bias_backward_partial_kernel(BiasShape s, int nb, int splits, const float* __restrict__ dy,
                             double* __restrict__ partial) {
  for (int c = blockIdx.y; c < s.c; c += gridDim.y) {
    for (int split = blockIdx.x; split < splits; split += gridDim.x) {
      const int n0 = split * nb, n1 = n0 + nb < s.n ? n0 + nb : s.n;
      double acc = 0.0;
      for (int n = n0; n < n1; ++n) {
        const float* d = dy + (static_cast<int64_t>(n) * s.c + c) * s.inner;
        for (int64_t i = threadIdx.x; i < s.inner; i += kThreads) acc += __ldg(d + i);
      }
      acc = detail::block_sum<kThreads>(acc);
      if (threadIdx.x == 0) partial[static_cast<int64_t>(c) * splits + split] = acc;
    }
  }
}

__global__ void __launch_bounds__(kThreads)
bias_backward_final_kernel(int channels, int splits, const double* __restrict__ partial, float* __restrict__ db) {
  for (int c = blockIdx.x * kThreads + threadIdx.x; c < channels; c += gridDim.x * kThreads) {
    double acc = 0.0;
    const double* p = partial + static_cast<int64_t>(c) * splits;
    for (int k = 0; k < splits; ++k) acc += p[k];
    db[c] += static_cast<float>(acc);
  }
}


}  // namespace

void bias_add(const BiasShape& shape, const float* bias, float* y, const Stream& stream) {
  shape.validate();
  if (shape.inner < kShortRow) {
    const int64_t len = shape.c * shape.inner;
    launch(bias_add_short_kernel, dim3(grid_blocks(len, kThreads, 1024), grid_blocks(shape.n, 1, 65535)), kThreads,
           0, stream, shape, bias, y);
    return;
  }
  const bool vec = shape.inner % 4 == 0 && aligned16(y);
  const int64_t per_row = vec ? shape.inner / 4 : shape.inner;
  launch(bias_add_rows_kernel,
         dim3(grid_blocks(per_row, kThreads, 1024), grid_blocks(static_cast<int64_t>(shape.n) * shape.c, 1, 65535)),
         kThreads, 0, stream, shape, vec, bias, y);
}

void bias_backward(const BiasShape& shape, const float* dy, float* db, const Stream& stream) {
  shape.validate();
  if (shape.inner < kShortRow) {
    launch(bias_backward_short_kernel, grid_blocks(shape.c, kThreads), kThreads, 0, stream, shape, dy, db);
    return;
  }
  int64_t nb = kSplitElements / shape.inner;
  if (nb < 1) nb = 1;
  if (nb > shape.n) nb = shape.n;
  const int splits = static_cast<int>((shape.n + nb - 1) / nb);
  Workspace::Lease lease =
      workspace_for(stream.device()).borrow(sizeof(double) * static_cast<size_t>(shape.c) * static_cast<size_t>(splits), stream);
  double* partial = lease.as<double>();
  launch(bias_backward_partial_kernel, dim3(grid_blocks(splits, 1, 65535), grid_blocks(shape.c, 1, 65535)), kThreads,
         0, stream, shape, static_cast<int>(nb), splits, dy, partial);
  launch(bias_backward_final_kernel, grid_blocks(shape.c, kThreads), kThreads, 0, stream, shape.c, splits,
         static_cast<const double*>(partial), db);
}

}  // namespace kiln::gpu
