// GPU fused softmax cross-entropy.
//
// Row statistics in one pass ("online softmax", Milakov & Gimelshein 2018): each thread keeps a
// running maximum m and a sum s = sum exp(x - m), rescaling s when m grows; partial (m, s) pairs are
// merged by warp shuffles (and, for wide rows, through shared memory) with a merge that is
// symmetric, so every thread ends with the same bits. Exponents are always <= 0, so logits of
// +-1e4 (or any finite values) neither overflow nor lose the row's mass.
//
//   C <= 256: one warp per row, 8 rows per 256-thread block (MNIST/CIFAR's 10 classes: 10 lanes
//             busy, but no block barrier and many rows per SM);
//   C >  256: one 256-thread block per row (ImageNet's 1000 classes: 4 elements a thread).
//
// Forward: row_loss[i] = log(s) + (m - x[label]) in float; the mean is a second, single-block
// kernel that sums the row losses in double in a fixed order (deterministic for any N) and divides
// by the count of non-ignored rows. When the caller passes no row_loss, the rows go to the device
// workspace. Backward: one tiny single-block kernel counts the non-ignored rows (labels are on the
// device), then one kernel per row computes (exp(x - m) / s - onehot) * dloss / count.
#include <optional>

#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/block_reduce.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/softmax_xent.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int kWarpRowMaxC = 256;  // widest row handled by one warp
constexpr int kMeanThreads = 512;

using detail::kFullMask;

struct RowStats {
  float m;  // running maximum
  float s;  // sum of exp(x - m)
};

__device__ __forceinline__ void stats_add(RowStats& r, float v) {
  if (v > r.m) {
    r.s = r.s * expf(r.m - v) + 1.0f;  // expf(-inf) = 0 for the first element
    r.m = v;
  } else if (v != -INFINITY) {  // a -inf logit adds nothing (and -inf - -inf would be NaN)
    r.s += expf(v - r.m);         // a NaN logit makes s NaN: it propagates to the loss
  }
}

// Symmetric merge: merge(a, b) and merge(b, a) give the same bits.
__device__ __forceinline__ RowStats stats_merge(RowStats a, RowStats b) {
  const float m = a.m > b.m ? a.m : b.m;
  if (m == -INFINITY) return {m, a.s + b.s};  // both empty
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ RowStats warp_stats(RowStats r) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    RowStats t;
    t.m = __shfl_xor_sync(kFullMask, r.m, o);
    t.s = __shfl_xor_sync(kFullMask, r.s, o);
    r = stats_merge(r, t);
  }
  return r;
}

// Statistics of one row held by a whole block: every thread receives the same bits.
__device__ __forceinline__ RowStats block_stats(RowStats r) {
  __shared__ float sm[kWarpsPerBlock], ss[kWarpsPerBlock];
  r = warp_stats(r);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sm[warp] = r.m;
    ss[warp] = r.s;
  }
  __syncthreads();
  RowStats t = {sm[0], ss[0]};
#pragma unroll
  for (int w = 1; w < kWarpsPerBlock; ++w) t = stats_merge(t, RowStats{sm[w], ss[w]});
  __syncthreads();  // sm/ss are rewritten for the next row
  return t;
}

__device__ __forceinline__ bool label_bad(int32_t l, int c) { return l < 0 || l >= c; }

// Loss of one row from its statistics (0 if ignored, NaN for an invalid label).
__device__ __forceinline__ float row_loss_of(RowStats st, const float* x, int32_t l, int c, int32_t ignore) {
  if (l == ignore) return 0.0f;
  if (label_bad(l, c)) return NAN;
  return logf(st.s) + (st.m - __ldg(x + l));
}

__global__ void __launch_bounds__(kThreads)
xent_forward_warp_kernel(SoftmaxXentShape s, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                         float* __restrict__ loss) {
  const int lane = threadIdx.x & 31;
  for (int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5); row < s.n; row += gridDim.x * kWarpsPerBlock) {
    const float* x = logits + static_cast<int64_t>(row) * s.c;  // (C)
    RowStats st = {-INFINITY, 0.0f};
    for (int j = lane; j < s.c; j += 32) stats_add(st, __ldg(x + j));
    st = warp_stats(st);
    if (lane == 0) loss[row] = row_loss_of(st, x, __ldg(labels + row), s.c, s.ignore_label);
  }
}

__global__ void __launch_bounds__(kThreads)
xent_forward_block_kernel(SoftmaxXentShape s, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                          float* __restrict__ loss) {
  for (int row = blockIdx.x; row < s.n; row += gridDim.x) {
    const float* x = logits + static_cast<int64_t>(row) * s.c;
    RowStats st = {-INFINITY, 0.0f};
    for (int j = threadIdx.x; j < s.c; j += kThreads) stats_add(st, __ldg(x + j));
    st = block_stats(st);
    if (threadIdx.x == 0) loss[row] = row_loss_of(st, x, __ldg(labels + row), s.c, s.ignore_label);
  }
}

// mean_loss = sum(loss) / count over non-ignored rows: one block, fixed order, double.
__global__ void __launch_bounds__(kMeanThreads)
xent_mean_kernel(SoftmaxXentShape s, const float* __restrict__ loss, const int32_t* __restrict__ labels,
                 float* __restrict__ mean_loss) {
  double total = 0.0;
  int count = 0;
  for (int i = threadIdx.x; i < s.n; i += kMeanThreads) {
    total += static_cast<double>(loss[i]);
    count += __ldg(labels + i) != s.ignore_label;
  }
  total = detail::block_sum<kMeanThreads>(total);
  count = detail::block_sum<kMeanThreads>(count);
  if (threadIdx.x == 0) *mean_loss = count > 0 ? static_cast<float>(total / count) : 0.0f;
}

// out = number of non-ignored rows: one block.
__global__ void __launch_bounds__(kMeanThreads)
xent_count_kernel(SoftmaxXentShape s, const int32_t* __restrict__ labels, int32_t* __restrict__ out) {
  int count = 0;
  for (int i = threadIdx.x; i < s.n; i += kMeanThreads) count += __ldg(labels + i) != s.ignore_label;
  count = detail::block_sum<kMeanThreads>(count);
  if (threadIdx.x == 0) *out = count;
}

// d = (softmax - onehot) * scale over the part of the row this thread owns.
__device__ __forceinline__ void write_grad(const float* x, float* d, int begin, int step, int c, RowStats st,
                                           int32_t l, int32_t ignore, float scale) {
  if (l == ignore) {
    for (int j = begin; j < c; j += step) d[j] = 0.0f;
    return;
  }
  const float inv = label_bad(l, c) ? NAN : 1.0f / st.s;
  for (int j = begin; j < c; j += step) {
    const float p = expf(__ldg(x + j) - st.m) * inv;
    d[j] = (p - (j == l ? 1.0f : 0.0f)) * scale;
  }
}

__device__ __forceinline__ float grad_scale(float dloss, const int32_t* count) {
  const int n = *count;
  return n > 0 ? dloss / static_cast<float>(n) : 0.0f;
}

__global__ void __launch_bounds__(kThreads)
xent_backward_warp_kernel(SoftmaxXentShape s, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                          float dloss, const int32_t* __restrict__ count, float* __restrict__ dlogits) {
  const int lane = threadIdx.x & 31;
  const float scale = grad_scale(dloss, count);
  for (int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5); row < s.n; row += gridDim.x * kWarpsPerBlock) {
    const float* x = logits + static_cast<int64_t>(row) * s.c;
    float* d = dlogits + static_cast<int64_t>(row) * s.c;
    const int32_t l = __ldg(labels + row);
    RowStats st = {-INFINITY, 0.0f};
    if (l != s.ignore_label) {  // uniform across the warp
      for (int j = lane; j < s.c; j += 32) stats_add(st, __ldg(x + j));
      st = warp_stats(st);
    }
    write_grad(x, d, lane, 32, s.c, st, l, s.ignore_label, scale);
  }
}

__global__ void __launch_bounds__(kThreads)
xent_backward_block_kernel(SoftmaxXentShape s, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                           float dloss, const int32_t* __restrict__ count, float* __restrict__ dlogits) {
  const float scale = grad_scale(dloss, count);
  for (int row = blockIdx.x; row < s.n; row += gridDim.x) {
    const float* x = logits + static_cast<int64_t>(row) * s.c;
    float* d = dlogits + static_cast<int64_t>(row) * s.c;
    const int32_t l = __ldg(labels + row);
    RowStats st = {-INFINITY, 0.0f};
    if (l != s.ignore_label) {  // uniform across the block
      for (int j = threadIdx.x; j < s.c; j += kThreads) stats_add(st, __ldg(x + j));
      st = block_stats(st);
    }
    write_grad(x, d, threadIdx.x, kThreads, s.c, st, l, s.ignore_label, scale);
  }
}

static bool warp_rows(const SoftmaxXentShape& s) { return s.c <= kWarpRowMaxC; }
static unsigned row_blocks(const SoftmaxXentShape& s) {
  return warp_rows(s) ? grid_blocks(s.n, kWarpsPerBlock, 65535) : grid_blocks(s.n, 1, 65535);
}

}  // namespace

void softmax_xent_forward(const SoftmaxXentShape& shape, const float* logits, const int32_t* labels, float* row_loss,
                          float* mean_loss, const Stream& stream) {
  shape.validate();
  KILN_CHECK(mean_loss != nullptr, "softmax_xent_forward: mean_loss is null");
  std::optional<Workspace::Lease> lease;  // row losses when the caller keeps none
  if (!row_loss) lease.emplace(workspace_for(stream.device()).borrow(sizeof(float) * shape.n, stream));
  float* loss = row_loss ? row_loss : lease->as<float>();
  launch(warp_rows(shape) ? xent_forward_warp_kernel : xent_forward_block_kernel, row_blocks(shape), kThreads, 0,
         stream, shape, logits, labels, loss);
  launch(xent_mean_kernel, 1, kMeanThreads, 0, stream, shape, static_cast<const float*>(loss), labels, mean_loss);
}

void softmax_xent_backward(const SoftmaxXentShape& shape, const float* logits, const int32_t* labels, float dloss,
                           float* dlogits, const Stream& stream) {
  shape.validate();
  Workspace::Lease lease = workspace_for(stream.device()).borrow(sizeof(int32_t), stream);
  int32_t* count = lease.as<int32_t>();
  launch(xent_count_kernel, 1, kMeanThreads, 0, stream, shape, labels, count);
  launch(warp_rows(shape) ? xent_backward_warp_kernel : xent_backward_block_kernel, row_blocks(shape), kThreads, 0,
         stream, shape, logits, labels, dloss, static_cast<const int32_t*>(count), dlogits);
}

}  // namespace kiln::gpu
