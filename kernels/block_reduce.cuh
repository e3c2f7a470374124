// Warp- and block-level reductions for kiln's kernels (device code: include from kernels/*.cu only).
//
// Deterministic by construction: a fixed butterfly over the 32 lanes, then a fixed butterfly over
// the per-warp partials, so the result depends only on which values each thread holds, never on
// timing. Every lane of every warp of the block must call the block functions (no early return
// before them), and the block size must be the template's kThreads (a multiple of 32, <= 1024).
#pragma once

namespace kiln::gpu::detail {

constexpr unsigned kFullMask = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;  // the same bits in every lane
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(kFullMask, v, o);
    v = u > v ? u : v;
  }
  return v;
}

// Sum over the block; every thread receives the total.
template <int kThreads, class T>
__device__ __forceinline__ T block_sum(T v) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_sum: kThreads must be a multiple of 32");
  constexpr int kWarps = kThreads / 32;
  __shared__ T partial[kWarps];
  v = warp_sum(v);
  if constexpr (kWarps == 1) return v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  T t = lane < kWarps ? partial[lane] : T(0);
  t = warp_sum(t);
  __syncthreads();  // `partial` may be reused by the next call
  return t;
}

}  // namespace kiln::gpu::detail
