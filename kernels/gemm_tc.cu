// v3_tc: kiln's tensor-core GEMM, C (M, N) = alpha * op(A) op(B) + beta * C, row-major, A, B and C
// FP32 in memory, op(A) and op(B) rounded to TF32, BF16 or F16 (kernels/shapes/precision.h), FP32
// accumulation. Built on kernels/mma.cuh (mma.sync, cp.async); sm_80 and later. No GPU has run
// it yet: it is tested on the emulator (exact fragment layouts, cp.async semantics) only.
//
// Tiling, fragments, row padding and the pipeline loop are kernels/mma_tile.cuh's (shared with the
// tensor-core convolutions): 128x128 block tiles of 8 warps of 64x32, FP32 accumulation. K advances
// 32 at a time: 4 mma.m16n8k8 (TF32) or 2 mma.m16n8k16 (BF16, F16) steps per tile.
//
// Pipeline. Shared memory holds kStages = 2 slots, each an A tile and a B tile as FP32. Tile kt+1
// is copied global -> shared by cp.async (one commit group per tile) while tile kt is multiplied:
//   prologue: issue tile 0
//   for kt:   wait for tile kt (own copies) ; __syncthreads (everyone's copies landed, and
//             everyone is done with tile kt-1, whose slot is refilled next) ; issue tile kt+1 ;
//             multiply tile kt
// Three stages would need 120 KiB for the BF16 layout, over the 99 KiB opt-in of sm_86/sm_89; two
// take at most 80 KiB (> 48 KiB: cudaFuncSetAttribute before each launch).
//
// Staging (the transposes live here). Each operand tile is copied as stored: A (M, K) row-major
// gives a [128 m][32 k] tile ("k-contiguous"), A stored transposed (K, M) a [32 k][128 m] tile
// ("mn-contiguous"); B (K, N) a [32 k][128 n] tile, B transposed (N, K) a [128 n][32 k] tile. Copies
// are 16-byte cp.async.cg when the stored rows are a multiple of 4 floats and the pointer is
// 16-byte aligned, else 4-byte cp.async.ca per element; outside the matrix (ragged M, N, K) the
// zero-fill form (src_bytes = 0) writes zeros, so the tails need no other code.
//
// Not yet: BF16/F16 staged as 16 bit (half the shared memory, ldmatrix, conversion once per element
// instead of once per reading warp), vector stores of C, a split-K for small M x N.
#include <cstdint>

#include "core/cuda_check.h"
#include "core/error.h"
#include "core/stream.h"
#include "kernels/compute_capability.h"
#include "kernels/gemm.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/mma_tile.cuh"

namespace kiln::gpu {
namespace {

using mma_tile::kBM;
using mma_tile::kBN;
using mma_tile::kThreads;
constexpr int kBK = 32, kStages = 2;

// One operand tile in shared memory as stored (kernels/mma_tile.cuh: k-contiguous [MN][kBK + pad]
// or mn-contiguous [kBK][MN + pad]), and how it is copied there.
template <MathPrecision P, bool KContig, int MN>
struct Tile : mma_tile::Layout<P, KContig, MN, kBK> {
  using L = mma_tile::Layout<P, KContig, MN, kBK>;
  using L::kCols, L::kRows, L::kStride;

  // Copies rows [row0, row0 + kRows) x columns [col0, col0 + kCols) of the row-major (rows x cols)
  // matrix src into the tile, zeros outside it. vec: cols % 4 == 0 and src 16-byte aligned.
  __device__ static void stage(float* dst, const float* src, int rows, int cols, int row0, int col0, bool vec) {
    constexpr int kChunks = kRows * kCols / 4;
    static_assert(kChunks % kThreads == 0);
#pragma unroll
    for (int q = 0; q < kChunks / kThreads; ++q) {
      const int i = q * kThreads + static_cast<int>(threadIdx.x);
      const int r = i / (kCols / 4), c = i % (kCols / 4) * 4;
      const int gr = row0 + r, gc = col0 + c;
      const float* row = src + int64_t{gr} * cols;
      float* d = dst + r * kStride + c;
      if (vec) {
        const int n = gr < rows ? min(max(cols - gc, 0), 4) : 0;
        mma::cp_async_cg16(d, n > 0 ? row + gc : src, 4 * n);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const bool ok = gr < rows && gc + e < cols;
          mma::cp_async_ca<4>(d + e, ok ? row + gc + e : src, ok ? 4 : 0);
        }
      }
    }
  }
};

struct TcArgs {
  const float* a;
  const float* b;
  float* c;
  int m, n, k;
  float alpha, beta;
  bool vec_a, vec_b;  // 16-byte cp.async allowed (stored rows % 4 floats, pointer aligned)
};

template <MathPrecision P, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads) gemm_tc_kernel(TcArgs p) {
  using TileA = Tile<P, !TA, kBM>;
  using TileB = Tile<P, TB, kBN>;
  KILN_DYNAMIC_SHARED(float, smem);
  float* const a_s = smem;                           // kStages A tiles
  float* const b_s = smem + kStages * TileA::kFloats;  // then kStages B tiles

  const int block_m = static_cast<int>(blockIdx.y) * kBM, block_n = static_cast<int>(blockIdx.x) * kBN;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane >> 2, t = lane & 3;
  const int wm = warp / mma_tile::kWarpsN * mma_tile::kWM, wn = warp % mma_tile::kWarpsN * mma_tile::kWN;
  constexpr int kMT = mma_tile::kMT, kNT = mma_tile::kNT;

  // Tile kt of both operands into slot `slot`.
  auto issue = [&](int kt, int slot) {
    const int k0 = kt * kBK;
    float* as = a_s + slot * TileA::kFloats;
    float* bs = b_s + slot * TileB::kFloats;
    if constexpr (TA) TileA::stage(as, p.a, p.k, p.m, k0, block_m, p.vec_a);  // A stored (K, M)
    else TileA::stage(as, p.a, p.m, p.k, block_m, k0, p.vec_a);               // A stored (M, K)
    if constexpr (TB) TileB::stage(bs, p.b, p.n, p.k, block_n, k0, p.vec_b);  // B stored (N, K)
    else TileB::stage(bs, p.b, p.k, p.n, k0, block_n, p.vec_b);               // B stored (K, N)
  };
  float acc[kMT][kNT][4];
  mma_tile::zero(acc);
  mma_tile::pipeline<kStages>((p.k + kBK - 1) / kBK, issue, [&](int slot) {
    mma_tile::mma_ktile<P, TileA, TileB, kBK>(a_s + slot * TileA::kFloats, b_s + slot * TileB::kFloats, wm, wn, lane,
                                              acc);
  });

  // Epilogue: accumulator (i, j, r) is C (row g + 8 * (r / 2), column 2t + r % 2) of mma tile (i, j).
  // A lane's two columns go out as one 8-byte store where rows keep 8-byte alignment: a warp's
  // store then fills 8 whole sectors instead of half of each twice (kiln_access_report).
  const bool pairs = p.n % 2 == 0 && reinterpret_cast<uintptr_t>(p.c) % 8 == 0;
#pragma unroll
  for (int i = 0; i < kMT; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = block_m + wm + 16 * i + g + 8 * h;
      if (row >= p.m) continue;
      float* c_row = p.c + int64_t{row} * p.n;
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        const int col0 = block_n + wn + 8 * j + 2 * t;  // even, so col0 < n means col0 + 1 < n
        if (pairs && col0 < p.n) {
          float2 v = make_float2(p.alpha * acc[i][j][2 * h], p.alpha * acc[i][j][2 * h + 1]);
          if (p.beta != 0.0f) {
            const float2 old = *reinterpret_cast<const float2*>(c_row + col0);
            v.x += p.beta * old.x;
            v.y += p.beta * old.y;
          }
          *reinterpret_cast<float2*>(c_row + col0) = v;
          continue;
        }
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = col0 + e;
          if (col >= p.n) continue;
          const float v = p.alpha * acc[i][j][2 * h + e];
          c_row[col] = p.beta != 0.0f ? v + p.beta * c_row[col] : v;
        }
      }
    }
}

template <MathPrecision P, bool TA, bool TB>
void run_tc(const GemmShape& s, const float* a, const float* b, float* c, const Stream& stream) {
  constexpr int bytes = kStages * (Tile<P, !TA, kBM>::kFloats + Tile<P, TB, kBN>::kFloats) * 4;
  static_assert(bytes <= 99 * 1024, "must fit the 99 KiB opt-in of sm_86/sm_89");
  auto* kernel = gemm_tc_kernel<P, TA, TB>;
  if constexpr (bytes > 48 * 1024) {
    KILN_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  }
  const TcArgs args{a, b, c, s.m, s.n, s.k, s.alpha, s.beta,
                    s.lda() % 4 == 0 && aligned16(a), s.ldb() % 4 == 0 && aligned16(b)};
  const dim3 grid((s.n + kBN - 1) / kBN, (s.m + kBM - 1) / kBM);
  launch(kernel, grid, dim3(kThreads), bytes, stream, args);
}

template <MathPrecision P>
void run_tc_trans(const GemmShape& s, const float* a, const float* b, float* c, const Stream& stream) {
  if (s.trans_a) {
    if (s.trans_b) run_tc<P, true, true>(s, a, b, c, stream);
    else run_tc<P, true, false>(s, a, b, c, stream);
  } else {
    if (s.trans_b) run_tc<P, false, true>(s, a, b, c, stream);
    else run_tc<P, false, false>(s, a, b, c, stream);
  }
}

}  // namespace

void gemm_v3_tc(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                const Stream& stream) {
  shape.validate();
  KILN_CHECK(precision != MathPrecision::F32,
             "gemm_v3_tc: tensor cores have no FP32 operands; ask for tf32, bf16 or f16 (or use gemm)");
  const int major = compute_major(stream.device());
  KILN_CHECK(major >= 8,
             "gemm_v3_tc: the tensor-core GEMM needs compute capability 8.0 or later (mma.sync, cp.async); "
             "device {} is sm_{}x: gemm_rounded runs the same semantics there without tensor cores",
             stream.device().index, major);
  KILN_CHECK((shape.m + kBM - 1) / kBM <= 65535, "gemm_v3_tc: M = {} exceeds the grid's 65535 row tiles", shape.m);
  switch (precision) {
    case MathPrecision::TF32: return run_tc_trans<MathPrecision::TF32>(shape, a, b, c, stream);
    case MathPrecision::BF16: return run_tc_trans<MathPrecision::BF16>(shape, a, b, c, stream);
    case MathPrecision::F16: return run_tc_trans<MathPrecision::F16>(shape, a, b, c, stream);
    case MathPrecision::F32: break;
  }
}

}  // namespace kiln::gpu
