// GPU reductions, deterministic two-pass (no atomics), double accumulation like the CPU twin.
//
// reduce_sum / reduce_sum_squares: pass 1 gives each fixed chunk of kChunk elements to one block
// (grid-stride over chunks); thread t of the block adds the 4-element groups t, t + 256, ... of its
// chunk in double (one float4 load per group when x is 16-byte aligned; the same groups and order
// either way), then a fixed butterfly combines the block into partial[chunk] in the device
// workspace. Pass 2, one block, adds the partials the same way. The chunking depends only on
// count, so the bits depend only on the data: not on the GPU, the grid or the run. (They may differ
// from the CPU's sequential double sum in the last bits of the double, invisible after rounding to
// float in all but adversarial data.)
//
// count_correct: one warp per row finds the row's argmax with the CPU's rule (first maximum wins;
// a NaN counts only at index 0, where nothing can beat it) and writes 0/1 per row to the workspace;
// one block adds the flags.
#include <climits>
#include <cstdint>

#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/block_reduce.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/reduce.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kFinalThreads = 512;
constexpr int64_t kChunk = int64_t{1} << 14;  // elements per partial sum (= 16 groups of 4 per thread)

template <bool kSquares>
__device__ __forceinline__ double term(float v) {
  const double d = v;
  return kSquares ? d * d : d;
}

template <bool kSquares>
__global__ void __launch_bounds__(kThreads)
reduce_partial_kernel(int64_t count, bool vec, const float* __restrict__ x, double* __restrict__ partial) {
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int64_t base = chunk * kChunk;
    const int64_t end = base + kChunk < count ? base + kChunk : count;
    double acc = 0.0;
    for (int64_t i = base + 4 * static_cast<int64_t>(threadIdx.x); i < end; i += 4 * kThreads) {
      if (vec && i + 3 < end) {
        const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
        acc += term<kSquares>(v.x);
        acc += term<kSquares>(v.y);
        acc += term<kSquares>(v.z);
        acc += term<kSquares>(v.w);
      } else {
        for (int64_t j = i; j < i + 4 && j < end; ++j) acc += term<kSquares>(__ldg(x + j));
      }
    }
    acc = detail::block_sum<kThreads>(acc);
    if (threadIdx.x == 0) partial[chunk] = acc;
  }
}

__global__ void __launch_bounds__(kFinalThreads)
reduce_final_kernel(int64_t parts, const double* __restrict__ partial, float* __restrict__ out) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < parts; i += kFinalThreads) acc += partial[i];
  acc = detail::block_sum<kFinalThreads>(acc);
  if (threadIdx.x == 0) *out = static_cast<float>(acc);
}

// Is (v, i) a better argmax candidate than (bv, bi) under "first maximum of a sequential scan that
// starts at index 0"? bi == INT_MAX means no candidate yet.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  if (v != v) return i == 0;               // a NaN is only ever kept at index 0 ...
  if (bi == INT_MAX) return true;
  if (bv != bv) return false;              // ... and then nothing replaces it
  return v > bv || (v == bv && i < bi);
}

__global__ void __launch_bounds__(kThreads)
correct_rows_kernel(AccuracyShape s, const float* __restrict__ logits, const int32_t* __restrict__ labels,
                    int32_t* __restrict__ flags) {
  constexpr int kWarps = kThreads / 32;
  const int lane = threadIdx.x & 31;
  for (int row = blockIdx.x * kWarps + (threadIdx.x >> 5); row < s.n; row += gridDim.x * kWarps) {
    const float* x = logits + static_cast<int64_t>(row) * s.c;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int j = lane; j < s.c; j += 32) {
      const float v = __ldg(x + j);
      if (better(v, j, bv, bi)) {
        bv = v;
        bi = j;
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(detail::kFullMask, bv, o);
      const int oi = __shfl_xor_sync(detail::kFullMask, bi, o);
      if (oi != INT_MAX && better(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      const int32_t l = __ldg(labels + row);
      flags[row] = l != s.ignore_label && bi == l ? 1 : 0;
    }
  }
}

__global__ void __launch_bounds__(kFinalThreads)
sum_flags_kernel(int n, const int32_t* __restrict__ flags, int32_t* __restrict__ out) {
  int acc = 0;
  for (int i = threadIdx.x; i < n; i += kFinalThreads) acc += flags[i];
  acc = detail::block_sum<kFinalThreads>(acc);
  if (threadIdx.x == 0) *out = acc;
}


template <bool kSquares>
void reduce(const ReduceShape& s, const float* x, float* out, const Stream& stream) {
  s.validate();
  const int64_t chunks = (s.count + kChunk - 1) / kChunk;
  Workspace::Lease lease = workspace_for(stream.device()).borrow(sizeof(double) * static_cast<size_t>(chunks > 0 ? chunks : 1), stream);
  double* partial = lease.as<double>();
  if (chunks > 0)
    launch(reduce_partial_kernel<kSquares>, grid_blocks(chunks, 1, 65535), kThreads, 0, stream, s.count, aligned16(x),
           x, partial);
  launch(reduce_final_kernel, 1, kFinalThreads, 0, stream, chunks, static_cast<const double*>(partial), out);
}

}  // namespace

void reduce_sum(const ReduceShape& shape, const float* x, float* out, const Stream& stream) {
  reduce<false>(shape, x, out, stream);
}

void reduce_sum_squares(const ReduceShape& shape, const float* x, float* out, const Stream& stream) {
  reduce<true>(shape, x, out, stream);
}

void count_correct(const AccuracyShape& shape, const float* logits, const int32_t* labels, int32_t* out,
                   const Stream& stream) {
  shape.validate();
  Workspace::Lease lease = workspace_for(stream.device()).borrow(sizeof(int32_t) * static_cast<size_t>(shape.n), stream);
  int32_t* flags = lease.as<int32_t>();
  launch(correct_rows_kernel, grid_blocks(shape.n, kThreads / 32, 65535), kThreads, 0, stream, shape, logits, labels,
         flags);
  launch(sum_flags_kernel, 1, kFinalThreads, 0, stream, shape.n, static_cast<const int32_t*>(flags), out);
}

}  // namespace kiln::gpu
