// The part of cuBLAS kiln calls, for the emulate build: the same names, types and signatures as
// <cublas_v2.h>, defined in kernels/cublas_emu.cu with cuBLAS's column-major reference semantics
// (one emulated thread per element of C). It lets the emulated build run kiln's cuBLAS code path
// (the row-major to column-major mapping in kernels/gemm_cublas.cu) instead of only compiling it; it is
// not a fast GEMM and never replaces libcublas in the cuda build. Written from the cuBLAS
// documentation; only what kiln uses.
#pragma once

#if !KILN_WITH_EMULATOR
#error "kernels/cublas_emu.h is the emulate build's stand-in for <cublas_v2.h>"
#endif

#include <fmt/format.h>
#include <library_types.h>  // cudaDataType: the toolkit's header, as the emulator uses its runtime types

#include "core/error.h"

struct cublasContext;
typedef struct cublasContext* cublasHandle_t;

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
// Column-major C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C; beta == 0 does not
// read C. CUBLAS_STATUS_INVALID_VALUE, as cuBLAS, for m, n or k < 0 or a leading dimension below
// its minimum: lda >= max(1, transa == N ? m : k), ldb >= max(1, transb == N ? k : n),
// ldc >= max(1, m).
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc);

typedef enum {
  CUBLAS_COMPUTE_32F = 68,            // FP32 products and sums
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,   // the same, no reduced-precision shortcuts
  CUBLAS_COMPUTE_32F_FAST_16F = 74,   // FP32 inputs may be down-converted to F16 (or TF32)
  CUBLAS_COMPUTE_32F_FAST_16BF = 75,  // ... to BF16 (or TF32)
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77,  // ... to TF32
} cublasComputeType_t;

typedef enum { CUBLAS_GEMM_DEFAULT = -1, CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99 } cublasGemmAlgo_t;

// cublasGemmEx for what kiln asks of it: A, B and C CUDA_R_32F, alpha and beta float, one of the
// compute types above, algo DEFAULT or DEFAULT_TENSOR_OP; any other type, compute type or algo is
// CUBLAS_STATUS_NOT_SUPPORTED (so a call kiln has not modelled fails loudly). Argument checks as
// cublasSgemm. The FAST types are modelled by the behaviour they allow that differs most from FP32:
// the operands rounded as the tensor cores round them (kernels/shapes/precision.h: TF32 nearest
// ties away, BF16/F16 nearest even; FAST_16F to F16, FAST_16BF to BF16), products and sums FP32.
// libcublas only *allows* the down-conversion, so a real GPU may round differently or not at all
// (kernels/gemm.h says what kiln's tests allow for that).
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo);

#define KILN_CUBLAS_CHECK(expr)                                                                    \
  do {                                                                                             \
    const cublasStatus_t kiln_status_ = (expr);                                                    \
    if (kiln_status_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::kiln::fail(fmt::format("cuBLAS (emulated) status {} from {}", static_cast<int>(kiln_status_), #expr)); \
  } while (0)
