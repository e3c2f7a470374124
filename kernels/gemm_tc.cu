// v3_tc: kiln's tensor-core GEMM, C (M, N) = alpha * op(A) op(B) + beta * C, row-major, A, B and C
// FP32 in memory, op(A) and op(B) rounded to TF32, BF16 or F16 (kernels/shapes/precision.h), FP32
// accumulation. Built on kernels/mma.cuh (mma.sync, cp.async); sm_80 and later. No GPU has run
// it yet: it is tested on the emulator (exact fragment layouts, cp.async semantics) only.
//
// Tiling. A block of 256 threads (8 warps) computes a 128x128 tile of C; warp w computes the
// 64x32 warp tile at rows 64 * (w / 4), columns 32 * (w % 4): 4 x 4 mma tiles of 16x8, 64 FP32
// accumulators per thread (fragment C: row g (+8), column 2t, 2t+1; g = lane / 4, t = lane % 4).
// K advances 32 at a time: 4 mma.m16n8k8 (TF32) or 2 mma.m16n8k16 (BF16, F16) steps per tile.
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
// Fragments. FP32 is converted when a fragment is loaded from shared memory (direct loads, no
// ldmatrix: ldmatrix moves 16-bit elements, the tiles are FP32): TF32 by to_tf32 (cvt.rna), BF16
// and F16 by core/half.h's round-to-nearest-even, the functions the CPU twin (cpu::gemm_rounded)
// uses. Fragment elements (mma.cuh's table), with op(A) (m, k) and op(B) (k, n) of the tile:
//   TF32  a: (g, t) (g+8, t) (g, t+4) (g+8, t+4)        b: (t, g) (t+4, g)
//   16 bit a: pairs (g, 2t..2t+1) (g+8, ..) (g, 2t+8..2t+9) (g+8, ..)   b: pairs (2t..2t+1, g) (2t+8.., g)
// Row padding against bank conflicts, chosen per access pattern (in 4-byte words, mod 32 banks):
// TF32 k-contiguous rows pad 4 (lane reads word 4g + t: 32 banks), mn-contiguous pad 8 (8t + g);
// 16-bit k-contiguous pad 8 (float2 loads of 8g + 2t, conflict-free per half warp), mn-contiguous
// pad 4 (8t + g for the even k, 8t + 4 + g for the odd). Rows stay 16-byte aligned for cp.async.
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
#include "kernels/mma.cuh"

namespace kiln::gpu {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 32, kStages = 2;
constexpr int kWarpsM = 2, kWarpsN = 4, kThreads = 32 * kWarpsM * kWarpsN;
constexpr int kWM = kBM / kWarpsM, kWN = kBN / kWarpsN;  // 64 x 32 per warp
constexpr int kMT = kWM / 16, kNT = kWN / 8;               // 4 x 4 mma tiles per warp

// One operand tile in shared memory as stored: k-contiguous [MN][kBK + pad] or mn-contiguous
// [kBK][MN + pad] (pads: see the header).
template <MathPrecision P, bool KContig, int MN>
struct Tile {
  static constexpr bool kTf32 = P == MathPrecision::TF32;
  static constexpr int kRows = KContig ? MN : kBK;
  static constexpr int kCols = KContig ? kBK : MN;
  static constexpr int kStride = kCols + (KContig == kTf32 ? 4 : 8);
  static constexpr int kFloats = kRows * kStride;
  static_assert(kStride % 4 == 0, "rows must stay 16-byte aligned for cp.async");

  __device__ static float at(const float* s, int mn, int k) {
    return KContig ? s[mn * kStride + k] : s[k * kStride + mn];
  }
  // Elements (mn, k) and (mn, k + 1), k even.
  __device__ static float2 pair(const float* s, int mn, int k) {
    if constexpr (KContig) return *reinterpret_cast<const float2*>(s + mn * kStride + k);
    else return make_float2(s[k * kStride + mn], s[(k + 1) * kStride + mn]);
  }

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

// Two operands of a 16-bit mma, packed (low half first).
template <MathPrecision P>
__device__ __forceinline__ uint32_t pack16(float2 v) {
  if constexpr (P == MathPrecision::BF16) return mma::pack(float_to_bf16_rne(v.x), float_to_bf16_rne(v.y));
  else return mma::pack(float_to_f16_rne(v.x), float_to_f16_rne(v.y));
}

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
  const int wm = warp / kWarpsN * kWM, wn = warp % kWarpsN * kWN;

  // Tile kt of both operands into slot `slot`, as one commit group.
  auto issue = [&](int kt, int slot) {
    const int k0 = kt * kBK;
    float* as = a_s + slot * TileA::kFloats;
    float* bs = b_s + slot * TileB::kFloats;
    if constexpr (TA) TileA::stage(as, p.a, p.k, p.m, k0, block_m, p.vec_a);  // A stored (K, M)
    else TileA::stage(as, p.a, p.m, p.k, block_m, k0, p.vec_a);               // A stored (M, K)
    if constexpr (TB) TileB::stage(bs, p.b, p.n, p.k, block_n, k0, p.vec_b);  // B stored (N, K)
    else TileB::stage(bs, p.b, p.k, p.n, k0, block_n, p.vec_b);               // B stored (K, N)
    mma::cp_async_commit();
  };

  float acc[kMT][kNT][4];
#pragma unroll
  for (int i = 0; i < kMT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

  const int ktiles = (p.k + kBK - 1) / kBK;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) issue(s, s);
    else mma::cp_async_commit();  // empty group: the wait count below stays the same
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    mma::cp_async_wait<kStages - 2>();  // this thread's copies of tile kt are done
    __syncthreads();                    // everyone's are; and everyone is done with tile kt - 1
    const int next = kt + kStages - 1;
    if (next < ktiles) issue(next, next % kStages);
    else mma::cp_async_commit();

    const float* as = a_s + (kt % kStages) * TileA::kFloats;
    const float* bs = b_s + (kt % kStages) * TileB::kFloats;
    if constexpr (P == MathPrecision::TF32) {
#pragma unroll
      for (int kk = 0; kk < kBK; kk += 8) {
        uint32_t af[kMT][4], bf[kNT][2];
#pragma unroll
        for (int i = 0; i < kMT; ++i) {
          const int m0 = wm + 16 * i + g;
          af[i][0] = mma::to_tf32(TileA::at(as, m0, kk + t));
          af[i][1] = mma::to_tf32(TileA::at(as, m0 + 8, kk + t));
          af[i][2] = mma::to_tf32(TileA::at(as, m0, kk + t + 4));
          af[i][3] = mma::to_tf32(TileA::at(as, m0 + 8, kk + t + 4));
        }
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          const int n0 = wn + 8 * j + g;
          bf[j][0] = mma::to_tf32(TileB::at(bs, n0, kk + t));
          bf[j][1] = mma::to_tf32(TileB::at(bs, n0, kk + t + 4));
        }
#pragma unroll
        for (int i = 0; i < kMT; ++i)
#pragma unroll
          for (int j = 0; j < kNT; ++j) mma::mma_m16n8k8_tf32(acc[i][j], af[i], bf[j], acc[i][j]);
      }
    } else {
#pragma unroll
      for (int kk = 0; kk < kBK; kk += 16) {
        uint32_t af[kMT][4], bf[kNT][2];
#pragma unroll
        for (int i = 0; i < kMT; ++i) {
          const int m0 = wm + 16 * i + g;
          af[i][0] = pack16<P>(TileA::pair(as, m0, kk + 2 * t));
          af[i][1] = pack16<P>(TileA::pair(as, m0 + 8, kk + 2 * t));
          af[i][2] = pack16<P>(TileA::pair(as, m0, kk + 2 * t + 8));
          af[i][3] = pack16<P>(TileA::pair(as, m0 + 8, kk + 2 * t + 8));
        }
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          const int n0 = wn + 8 * j + g;
          bf[j][0] = pack16<P>(TileB::pair(bs, n0, kk + 2 * t));
          bf[j][1] = pack16<P>(TileB::pair(bs, n0, kk + 2 * t + 8));
        }
#pragma unroll
        for (int i = 0; i < kMT; ++i)
#pragma unroll
          for (int j = 0; j < kNT; ++j) {
            if constexpr (P == MathPrecision::BF16) mma::mma_m16n8k16_bf16(acc[i][j], af[i], bf[j], acc[i][j]);
            else mma::mma_m16n8k16_f16(acc[i][j], af[i], bf[j], acc[i][j]);
          }
      }
    }
  }
  mma::cp_async_wait<0>();  // only empty groups are left; none may be pending when the thread exits

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
