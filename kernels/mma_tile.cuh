// The block-level core of kiln's tensor-core kernels, shared by the GEMM (kernels/gemm_tc.cu) and
// the implicit-GEMM convolutions (kernels/conv2d_tc.cu). Device code: include it from .cu files only.
//
// A block of 256 threads (8 warps) computes a 128x128 tile of C = A (M x K) * B (K x N), FP32 in
// shared memory, each operand rounded to TF32/BF16/F16 as its fragment is loaded, FP32 accumulation.
// Warp w owns the 64x32 warp tile at rows 64 * (w / 4), columns 32 * (w % 4): 4 x 4 mma tiles of
// 16x8, 64 accumulators per thread (fragment C: row g (+8), column 2t, 2t+1; g = lane / 4,
// t = lane % 4). What differs between the kernels is how a tile reaches shared memory (the GEMM
// copies rows of a matrix, the convolutions gather) and where C goes; both stay in the kernels.
//
//   Layout<P, KContig, MN, BK>   one operand tile as stored: k-contiguous [MN][BK + pad] or
//                                mn-contiguous [BK][MN + pad]; row pads against bank conflicts
//   pipeline<Stages>(ktiles, issue, compute)   the multi-stage cp.async loop
//   mma_ktile<P, LA, LB, BK>(as, bs, ...)      one k-tile of the warp tile on the tensor cores
//
// Row padding (in 4-byte words, mod 32 banks), chosen per access pattern of the fragment loads:
// TF32 k-contiguous rows pad 4 (BK 32: lane reads word 4g + t; BK 16: 20g + t, 32 distinct banks
// either way), mn-contiguous pad 8 (8t + g); 16-bit k-contiguous pad 8 (float2 loads of 8g + 2t or
// 24g + 2t, conflict-free per half warp), mn-contiguous pad 4 (8t + g for the even k, 8t + 4 + g for
// the odd). Rows stay 16-byte aligned for cp.async.
//
// Fragments (mma.cuh's table), with A (m, k) and B (k, n) of the tile:
//   TF32    a: (g, t) (g+8, t) (g, t+4) (g+8, t+4)        b: (t, g) (t+4, g)
//   16 bit  a: pairs (g, 2t..2t+1) (g+8, ..) (g, 2t+8..2t+9) (g+8, ..)   b: pairs (2t..2t+1, g) (2t+8.., g)
// FP32 is converted as a fragment is loaded (no ldmatrix: it moves 16-bit elements, the tiles are
// FP32): TF32 by to_tf32 (cvt.rna), BF16 and F16 by core/half.h's round-to-nearest-even, the
// functions the CPU twins use.
#pragma once

#include <cstdint>

#include "kernels/mma.cuh"
#include "kernels/shapes/precision.h"

namespace kiln::gpu::mma_tile {

constexpr int kBM = 128, kBN = 128;
constexpr int kWarpsM = 2, kWarpsN = 4, kThreads = 32 * kWarpsM * kWarpsN;
constexpr int kWM = kBM / kWarpsM, kWN = kBN / kWarpsN;  // 64 x 32 per warp
constexpr int kMT = kWM / 16, kNT = kWN / 8;               // 4 x 4 mma tiles per warp

using Acc = float[kMT][kNT][4];

template <MathPrecision P, bool KContig, int MN, int BK>
struct Layout {
  static constexpr bool kKContig = KContig;
  static constexpr bool kTf32 = P == MathPrecision::TF32;
  static constexpr int kRows = KContig ? MN : BK;
  static constexpr int kCols = KContig ? BK : MN;
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
};

// Two operands of a 16-bit mma, packed (low half first).
template <MathPrecision P>
__device__ __forceinline__ uint32_t pack16(float2 v) {
  if constexpr (P == MathPrecision::BF16) return mma::pack(float_to_bf16_rne(v.x), float_to_bf16_rne(v.y));
  else return mma::pack(float_to_f16_rne(v.x), float_to_f16_rne(v.y));
}

__device__ __forceinline__ void zero(Acc& acc) {
#pragma unroll
  for (int i = 0; i < kMT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
}

// The cp.async pipeline over `ktiles` k-tiles with `Stages` shared-memory slots:
//   prologue: issue tiles 0 .. Stages-2 (one commit group each; empty groups past the end keep the
//             wait count fixed)
//   for kt:   wait for tile kt (own copies) ; __syncthreads (everyone's copies landed, and everyone
//             is done with tile kt-1, whose slot is refilled next) ; issue tile kt+Stages-1 ;
//             compute(slot of kt)
// issue(kt, slot) issues the copies of tile kt into `slot` (no commit); compute(slot) reads it.
template <int Stages, class Issue, class Compute>
__device__ __forceinline__ void pipeline(int ktiles, Issue&& issue, Compute&& compute) {
  static_assert(Stages >= 2 && Stages - 2 < 8);
#pragma unroll
  for (int s = 0; s < Stages - 1; ++s) {
    if (s < ktiles) issue(s, s);
    mma::cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    mma::cp_async_wait<Stages - 2>();
    __syncthreads();
    const int next = kt + Stages - 1;
    if (next < ktiles) issue(next, next % Stages);
    mma::cp_async_commit();
    compute(kt % Stages);
  }
  mma::cp_async_wait<0>();  // only empty groups are left; none may be pending when the thread exits
}

// acc += A (warp rows wm.., k 0..BK) * B (k 0..BK, warp columns wn..) from the tiles `as`, `bs`.
template <MathPrecision P, class LA, class LB, int BK>
__device__ __forceinline__ void mma_ktile(const float* as, const float* bs, int wm, int wn, int lane, Acc& acc) {
  const int g = lane >> 2, t = lane & 3;
  if constexpr (P == MathPrecision::TF32) {
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      uint32_t af[kMT][4], bf[kNT][2];
#pragma unroll
      for (int i = 0; i < kMT; ++i) {
        const int m0 = wm + 16 * i + g;
        af[i][0] = mma::to_tf32(LA::at(as, m0, kk + t));
        af[i][1] = mma::to_tf32(LA::at(as, m0 + 8, kk + t));
        af[i][2] = mma::to_tf32(LA::at(as, m0, kk + t + 4));
        af[i][3] = mma::to_tf32(LA::at(as, m0 + 8, kk + t + 4));
      }
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        const int n0 = wn + 8 * j + g;
        bf[j][0] = mma::to_tf32(LB::at(bs, n0, kk + t));
        bf[j][1] = mma::to_tf32(LB::at(bs, n0, kk + t + 4));
      }
#pragma unroll
      for (int i = 0; i < kMT; ++i)
#pragma unroll
        for (int j = 0; j < kNT; ++j) mma::mma_m16n8k8_tf32(acc[i][j], af[i], bf[j], acc[i][j]);
    }
  } else {
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[kMT][4], bf[kNT][2];
#pragma unroll
      for (int i = 0; i < kMT; ++i) {
        const int m0 = wm + 16 * i + g;
        af[i][0] = pack16<P>(LA::pair(as, m0, kk + 2 * t));
        af[i][1] = pack16<P>(LA::pair(as, m0 + 8, kk + 2 * t));
        af[i][2] = pack16<P>(LA::pair(as, m0, kk + 2 * t + 8));
        af[i][3] = pack16<P>(LA::pair(as, m0 + 8, kk + 2 * t + 8));
      }
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        const int n0 = wn + 8 * j + g;
        bf[j][0] = pack16<P>(LB::pair(bs, n0, kk + 2 * t));
        bf[j][1] = pack16<P>(LB::pair(bs, n0, kk + 2 * t + 8));
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

}  // namespace kiln::gpu::mma_tile
