// Where: launchers kernels/gemm.h (declared once, kernels/gemm.inc; GPU versions there too); GPU
//        kernels/gemm.cu (tile: kernels/gemm_tile.cuh, shared with conv2d), cuBLAS
//        kernels/gemm_cublas.cu (SGEMM, GemmEx; emulated: kernels/cublas_emu.h), tensor cores
//        kernels/gemm_tc.cu (gemm_v3_tc), the choice per device kernels/gemm_rounded.cu (precisions
//        kernels/shapes/precision.h); CPU twin
//        cpu_fallback/gemm.cpp (gemm, gemm_rounded; on detail::sgemm, cpu_fallback/parallel.cpp); layers
//        layers/linear.{h,cpp}, layers/recurrent.{h,cpp} and layers/mse_loss.{h,cpp}; parity and
//        bench rows tests/parity/cases_gemm.cpp; reference test
//        tests/reference/gemm_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp (LinearLayerFromGemmAndBias).
//
// GemmShape: row-major C = alpha * op(A) * op(B) + beta * C, all matrices packed (no padding).
//
//   op(A) is (M, K): A is (M, K), or (K, M) when trans_a.
//   op(B) is (K, N): B is (K, N), or (N, K) when trans_b.
//   C is (M, N). beta = 0 ignores C's old contents (even NaN), as BLAS does.
// A fully connected layer y = x W^T + b is gemm{M=batch, N=out, K=in, trans_b=true}.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct GemmShape {
  int m = 1, n = 1, k = 1;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;

  // Leading dimensions of the packed row-major operands as stored.
  KILN_HD int lda() const { return trans_a ? m : k; }
  KILN_HD int ldb() const { return trans_b ? k : n; }
  KILN_HD int ldc() const { return n; }
  KILN_HD int64_t a_size() const { return static_cast<int64_t>(m) * k; }
  KILN_HD int64_t b_size() const { return static_cast<int64_t>(k) * n; }
  KILN_HD int64_t c_size() const { return static_cast<int64_t>(m) * n; }

  int64_t flops() const { return 2 * static_cast<int64_t>(m) * n * k; }
  int64_t bytes() const { return 4 * (a_size() + b_size() + (beta != 0.0f ? 2 : 1) * c_size()); }

  void validate() const {
    KILN_CHECK(m >= 1 && n >= 1 && k >= 1, "gemm: (M, N, K) = ({}, {}, {}) must be positive", m, n, k);
  }
};

}  // namespace kiln
