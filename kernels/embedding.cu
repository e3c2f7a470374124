// GPU embedding lookup (forward) and its deterministic backward (no float atomics).
//
// Forward: one thread per output element in a grid-stride loop (a row gather; coalesced along D).
//
// Backward, v1 "owner scan": every row v of dweight has exactly one owner, a warp, which finds the
// tokens equal to v and sums their dy rows itself, in increasing token order, in registers, then
// adds the sum to dweight once. No two threads ever write the same element, so there are no
// atomics and the result is bit-for-bit reproducible run to run (and independent of the grid).
// A block is 8 warps = 8 vocabulary rows, for one 128-wide slice of D (grid.y); it stages the ids
// in shared memory 256 at a time, and each warp tests 32 of them per __ballot_sync, then walks the
// matching lanes of the ballot in order (each lane owns features lane, lane+32, lane+64, lane+96
// of the slice: coalesced 128-byte reads of each matching dy row).
// Cost: O(V/8 * n) shared-memory id reads across the grid plus O(n * D) reads of dy, which is
// cheap for the vocabularies and token counts of character and word LMs (V <= ~50k, n = batch x
// bptt <= a few thousand per step). For much larger n x V the known-fast deterministic design is
// sort-based (radix-sort (id, position) pairs, then one warp per run of equal ids, as in
// llm.c's encoder backward); it would be a v2 row of the op table beside this one.
#include "core/stream.h"
#include "kernels/block_reduce.cuh"
#include "kernels/embedding.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;  // vocabulary rows per block
constexpr int kSlice = 128;            // features per block (4 per lane)

__global__ void __launch_bounds__(kThreads)
embedding_forward_kernel(EmbeddingShape s, const int32_t* __restrict__ ids, const float* __restrict__ weight,
                         float* __restrict__ y) {
  const int d = s.d;
  for (int64_t row = blockIdx.x; row < s.n; row += gridDim.x) {
    const int32_t id = ids[row];
    const bool ok = id >= 0 && id < s.v;
    const float* w = weight + static_cast<int64_t>(ok ? id : 0) * d;
    float* out = y + row * d;
    for (int k = threadIdx.x; k < d; k += kThreads) out[k] = ok ? w[k] : __int_as_float(0x7fc00000);
  }
}

__global__ void __launch_bounds__(kThreads)
embedding_backward_kernel(EmbeddingShape s, const int32_t* __restrict__ ids, const float* __restrict__ dy,
                          float* __restrict__ dweight) {
  __shared__ int32_t sid[kThreads];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int d = s.d;
  const int f0 = blockIdx.y * kSlice + lane;  // this lane's first feature; then +32, +64, +96
  for (int v0 = blockIdx.x * kWarps; v0 < s.v; v0 += gridDim.x * kWarps) {
    const int v = v0 + warp;  // may be >= V for the last group: the warp scans but never writes
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t base = 0; base < s.n; base += kThreads) {
      const int64_t i = base + threadIdx.x;
      sid[threadIdx.x] = i < s.n ? ids[i] : -1;
      __syncthreads();
#pragma unroll 1
      for (int sub = 0; sub < kThreads; sub += 32) {
        unsigned hits = __ballot_sync(detail::kFullMask, sid[sub + lane] == v);
        while (hits) {
          const int bit = __ffs(static_cast<int>(hits)) - 1;
          hits &= hits - 1;
          const float* g = dy + (base + sub + bit) * d;
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int f = f0 + 32 * q;
            if (f < d) acc[q] += g[f];
          }
        }
      }
      __syncthreads();  // sid is restaged for the next chunk
    }
    if (v < s.v) {
      float* w = dweight + static_cast<int64_t>(v) * d;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int f = f0 + 32 * q;
        if (f < d) w[f] += acc[q];
      }
    }
  }
}

}  // namespace

void embedding_forward(const EmbeddingShape& s, const int32_t* ids, const float* weight, float* y,
                       const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  launch(embedding_forward_kernel, grid_blocks(s.n, 1), kThreads, 0, stream, s, ids, weight, y);
}

void embedding_backward(const EmbeddingShape& s, const int32_t* ids, const float* dy, float* dweight,
                        const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  const unsigned slices = static_cast<unsigned>((s.d + kSlice - 1) / kSlice);
  KILN_CHECK(slices <= 65535, "embedding_backward: D={} is too wide", s.d);
  launch(embedding_backward_kernel, dim3(grid_blocks(s.v, kWarps), slices), kThreads, 0, stream, s, ids, dy,
         dweight);
}

}  // namespace kiln::gpu
