// The device-side core of kiln's SGEMM, shared by the plain GEMM (kernels/gemm.cu) and the
// implicit-GEMM convolutions (kernels/conv2d.cu). Device code: include it from .cu files only.
//
// One thread block computes a BM x BN tile of C = A (M x Kd) * B (Kd x N) over a range of the
// reduction dimension [k_begin, k_end):
//   - A and B tiles are staged in shared memory "k-major" (As[kk][m], Bs[kk][n]), rows padded by
//     4 floats (keeps 16-byte alignment for float4 reads, staggers the banks of the stores);
//   - double buffering: the next k-tile is fetched from global memory into registers while the
//     current one is multiplied, then stored to the other buffer; one barrier per k-tile;
//   - each thread accumulates a TM x TN register micro-tile, made of 4x4 pieces spread BM/(TM/4)
//     rows and BN/(TN/4) columns apart, so that the float4 fragment reads of a warp are
//     conflict-free (8 lanes per 128-bit phase read 32 consecutive floats, or broadcast).
//
// What is multiplied is described by a "problem" type P (a small trivially copyable struct passed
// to the kernel by value) that knows its operands' layouts:
//   static constexpr bool kAFastK, kBFastK;   // operand contiguous along the reduction dim?
//   struct Block { int k_begin, k_end; ... }; Block block(int z) const;  // blockIdx.z -> slice
//   ARow a_row(const Block&, int m) const;    // per-thread context for row m (m may be >= M)
//   void a_fetch<E>(const Block&, const ARow&, int kk0, int kstep, float (&v)[E]) const;
//       // v[e] = A(m, kk0 + e*kstep), 0 outside [0, M) x [k_begin, k_end)
//   BCol b_col(const Block&, int n) const;  b_fetch<E>(..., const BCol&, ...)   // the same for B
//   void store4(const Block&, int m, int n, const float* v) const;   // C(m, n..n+3) from v[0..3],
//       // each with its own bounds check
// Each thread owns fixed rows of the A tile and columns of the B tile for the whole block (so
// gathers can precompute their address arithmetic once; FetchMap) and fetches elements of them
// per k-tile: up to 4 consecutive kk per row ("fast-k": coalesced when the operand is contiguous
// along kk, float4 when aligned; a thread of the 64-thread tile takes two rows) or kk strided by
// NT/BX ("fast-x": consecutive threads read consecutive m or n).
#pragma once

#include "core/hd.h"

namespace kiln::gpu::tile {

template <int BM_, int BN_, int BK_, int TM_, int TN_, int MinBlocks_>
struct Config {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kMinBlocks = MinBlocks_;  // __launch_bounds__ occupancy target per SM
  static constexpr int kThreadsX = BN / TN;  // threads along n
  static constexpr int kThreadsY = BM / TM;  // threads along m
  static constexpr int kThreads = kThreadsX * kThreadsY;
  static constexpr int kPad = 4;
  static constexpr int kLdA = BM + kPad, kLdB = BN + kPad;
  static constexpr int kAPerThread = BM * BK / kThreads;
  static constexpr int kBPerThread = BN * BK / kThreads;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tiles are made of 4x4 pieces");
  static_assert(BM % TM == 0 && BN % TN == 0, "tile must split into micro-tiles");
  static_assert(kThreads % BM == 0 && kThreads % BN == 0, "every thread owns one row of A / column of B");
  static_assert(kAPerThread * (kThreads / BM) == BK && kBPerThread * (kThreads / BN) == BK,
                "fetch mapping must cover the k-tile exactly");
  static constexpr int kSharedBytes = 2 * BK * (kLdA + kLdB) * 4;
};

// 128x128 tile, 8x8 per thread, 256 threads: the big-problem configuration (2 blocks/SM,
// so at most 128 registers per thread).
using Big = Config<128, 128, 8, 8, 8, 2>;
// 64x64 tile, 8x8 per thread, 64 threads: small or skinny problems (more blocks in flight; 6
// blocks/SM = 12 warps caps registers at 168).
using Small = Config<64, 64, 8, 8, 8, 6>;

// Which elements of an operand tile (BX rows of the non-reduced dim x BK) thread `tid` fetches:
// kE per k-tile, as kRows rows (x(tid, j), j < kRows) of kPerRow elements, kk = kbase + e * kStep.
// Fast-k: at most 4 consecutive kk per row (one float4), so that at least BK/4 lanes share a row
// and a warp's float4 request fills whole sectors (one lane per row would use half of each of 32
// sectors; kiln_access_report); a thread with more elements than that takes more rows, NT/(BK/4)
// apart. Fast-x: one row, kE elements NT/BX apart in kk.
template <int BX, int BK, int NT, bool kFastK>
struct FetchMap {
  static constexpr int kE = BX * BK / NT;
  static constexpr int kPerRow = kFastK && kE > 4 ? 4 : kE;
  static constexpr int kRows = kE / kPerRow;
  static constexpr int kStep = kFastK ? 1 : NT / BX;
  static constexpr int kLanesPerRow = BK / kPerRow;  // fast-k
  static_assert(kE % kPerRow == 0 && (!kFastK || kRows * (NT / kLanesPerRow) == BX), "fetch map must tile");
  static KILN_HD int x(int tid, int j) {
    return kFastK ? tid / kLanesPerRow + j * (NT / kLanesPerRow) : tid % BX;
  }
  static KILN_HD int kbase(int tid) { return kFastK ? (tid % kLanesPerRow) * kPerRow : tid / BX; }
};

// Multiplies one BM x BN tile (rows m0.., columns n0..) over blk's k range and hands the result
// to prob.store4. Must be called by all Cfg::kThreads threads of the block (it has barriers).
template <class Cfg, class P>
__device__ __forceinline__ void gemm_block(const P& prob, const typename P::Block& blk, int m0, int n0) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int NT = Cfg::kThreads;
  using AMap = FetchMap<BM, BK, NT, P::kAFastK>;
  using BMap = FetchMap<BN, BK, NT, P::kBFastK>;
  constexpr int RA = AMap::kRows, EA = AMap::kPerRow, RB = BMap::kRows, EB = BMap::kPerRow;
  constexpr int kRowGap = BM / (TM / 4);  // distance between a thread's 4-row pieces
  constexpr int kColGap = BN / (TN / 4);

  __shared__ __align__(16) float As[2][BK][Cfg::kLdA];
  __shared__ __align__(16) float Bs[2][BK][Cfg::kLdB];

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % Cfg::kThreadsX, ty = tid / Cfg::kThreadsX;
  const int akb = AMap::kbase(tid), bkb = BMap::kbase(tid);
  decltype(prob.a_row(blk, 0)) arow[RA];
  decltype(prob.b_col(blk, 0)) bcol[RB];
#pragma unroll
  for (int j = 0; j < RA; ++j) arow[j] = prob.a_row(blk, m0 + AMap::x(tid, j));
#pragma unroll
  for (int j = 0; j < RB; ++j) bcol[j] = prob.b_col(blk, n0 + BMap::x(tid, j));

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  float ra[RA][EA], rb[RB][EB];
  // global -> registers for the k-tile at k0, and registers -> shared buffer `buf`
  const auto fetch = [&](int k0) {
#pragma unroll
    for (int j = 0; j < RA; ++j) prob.a_fetch(blk, arow[j], k0 + akb, AMap::kStep, ra[j]);
#pragma unroll
    for (int j = 0; j < RB; ++j) prob.b_fetch(blk, bcol[j], k0 + bkb, BMap::kStep, rb[j]);
  };
  const auto stage = [&](int buf) {
#pragma unroll
    for (int j = 0; j < RA; ++j)
#pragma unroll
      for (int e = 0; e < EA; ++e) As[buf][akb + e * AMap::kStep][AMap::x(tid, j)] = ra[j][e];
#pragma unroll
    for (int j = 0; j < RB; ++j)
#pragma unroll
      for (int e = 0; e < EB; ++e) Bs[buf][bkb + e * BMap::kStep][BMap::x(tid, j)] = rb[j][e];
  };
  const int k_begin = blk.k_begin;
  const int ntiles = blk.k_end > k_begin ? (blk.k_end - k_begin + BK - 1) / BK : 0;
  if (ntiles > 0) {
    fetch(k_begin);
    stage(0);
  }
  __syncthreads();

  for (int t = 0; t < ntiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < ntiles;
    if (more) fetch(k_begin + (t + 1) * BK);  // the next tile into registers, overlapping the math
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float af[TM], bf[TN];
#pragma unroll
      for (int h = 0; h < TM / 4; ++h) {
        const float4 v = *reinterpret_cast<const float4*>(&As[cur][kk][h * kRowGap + ty * 4]);
        af[h * 4 + 0] = v.x;
        af[h * 4 + 1] = v.y;
        af[h * 4 + 2] = v.z;
        af[h * 4 + 3] = v.w;
      }
#pragma unroll
      for (int h = 0; h < TN / 4; ++h) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[cur][kk][h * kColGap + tx * 4]);
        bf[h * 4 + 0] = v.x;
        bf[h * 4 + 1] = v.y;
        bf[h * 4 + 2] = v.z;
        bf[h * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
    }
    if (more) stage(cur ^ 1);  // the other buffer was last read before the previous barrier
    __syncthreads();
  }

#pragma unroll
  for (int hi = 0; hi < TM / 4; ++hi)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int hj = 0; hj < TN / 4; ++hj)
        prob.store4(blk, m0 + hi * kRowGap + ty * 4 + i, n0 + hj * kColGap + tx * 4, &acc[hi * 4 + i][hj * 4]);
}

// The kernel around gemm_block: blockIdx.x walks n-tiles, blockIdx.y m-tiles, blockIdx.z the
// problem's slices (groups, split-k chunks).
template <class Cfg, class P>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) gemm_tile_kernel(const P prob) {
  const typename P::Block blk = prob.block(static_cast<int>(blockIdx.z));
  gemm_block<Cfg>(prob, blk, static_cast<int>(blockIdx.y) * Cfg::BM, static_cast<int>(blockIdx.x) * Cfg::BN);
}

// Loads 4 floats from a 16-byte aligned address (read-only path).
__device__ __forceinline__ float4 load4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }

}  // namespace kiln::gpu::tile

#include <cstdint>

#include "kernels/gemm.h"
#include "kernels/grid.cuh"

namespace kiln::gpu::tile {

// The big tile when the problem fills a large GPU with 128x128 tiles (one H100 wave: 132 blocks),
// the small one otherwise (skinny or small problems get 4x the blocks). `z` = slices.
inline bool use_big(GemmTile tile, int64_t m, int64_t n, int64_t z) {
  if (tile != GemmTile::Auto) return tile == GemmTile::T128;
  const int64_t blocks = ((m + 127) / 128) * ((n + 127) / 128) * z;
  return m >= 96 && n >= 96 && blocks >= 132;
}

}  // namespace kiln::gpu::tile
