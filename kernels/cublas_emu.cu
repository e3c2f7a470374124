// The emulate build's cublasSgemm, cublasGemmEx & co (kernels/cublas_emu.h): column-major reference
// semantics, one thread per element of C in a grid-stride loop, operands rounded to the compute
// type's precision (F32: as they are), float accumulation in k order, launched on the handle's
// stream like any kernel. Compiled only in the emulate build (nothing in the cuda build).
#if KILN_WITH_EMULATOR
#include "kernels/cublas_emu.h"

#include <cstdint>
#include <mutex>
#include <set>

#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/shapes/precision.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
column_major_gemm_kernel(kiln::MathPrecision p, bool ta, bool tb, int m, int n, int k, float alpha, const float* a,
                         int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  const int64_t total = static_cast<int64_t>(m) * n;
  for (int64_t e = blockIdx.x * int64_t{kThreads} + threadIdx.x; e < total; e += int64_t{gridDim.x} * kThreads) {
    const int i = static_cast<int>(e % m), j = static_cast<int>(e / m);  // C(i, j) = c[i + j * ldc]
    float acc = 0.0f;
    for (int l = 0; l < k; ++l) {
      const float av = ta ? a[l + static_cast<int64_t>(i) * lda] : a[i + static_cast<int64_t>(l) * lda];
      const float bv = tb ? b[j + static_cast<int64_t>(l) * ldb] : b[l + static_cast<int64_t>(j) * ldb];
      acc += kiln::round_to_precision(p, av) * kiln::round_to_precision(p, bv);
    }
    float& out = c[i + static_cast<int64_t>(j) * ldc];
    out = beta == 0.0f ? alpha * acc : alpha * acc + beta * out;
  }
}

static int at_least_one(int v) { return v > 1 ? v : 1; }

// cuBLAS's argument checks shared by Sgemm and GemmEx, then the launch.
static cublasStatus_t column_major_gemm(cublasHandle_t handle, kiln::MathPrecision p, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                        const float* A, int lda, const float* B, int ldb, const float* beta, float* C,
                                        int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;  // OP_C is OP_T for real numbers
  if (m < 0 || n < 0 || k < 0 || !alpha || !beta || lda < at_least_one(ta ? k : m) ||
      ldb < at_least_one(tb ? n : k) || ldc < at_least_one(m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const int64_t total = static_cast<int64_t>(m) * n;
  kiln::launch(column_major_gemm_kernel, grid_blocks(total, kThreads), kThreads, 0, handle->stream, p, ta, tb, m, n,
               k, *alpha, A, lda, B, ldb, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

// The operands' precision under a GemmEx compute type (kernels/cublas_emu.h); false: not modelled.
static bool compute_precision(cublasComputeType_t type, kiln::MathPrecision* p) {
  switch (type) {
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC: *p = kiln::MathPrecision::F32; return true;
    case CUBLAS_COMPUTE_32F_FAST_TF32: *p = kiln::MathPrecision::TF32; return true;
    case CUBLAS_COMPUTE_32F_FAST_16BF: *p = kiln::MathPrecision::BF16; return true;
    case CUBLAS_COMPUTE_32F_FAST_16F: *p = kiln::MathPrecision::F16; return true;
  }
  return false;
}

}  // namespace
}  // namespace kiln::gpu

// Live handles, as the library keeps them: kiln keeps one per host thread for the life of the
// process (kernels/gemm_cublas.cu), so they stay reachable here rather than show as leaks at exit.
static std::mutex g_handles_mutex;
static std::set<cublasContext*>& live_handles() {
  static auto* handles = new std::set<cublasContext*>();
  return *handles;
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  std::lock_guard lock(g_handles_mutex);
  live_handles().insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  std::lock_guard lock(g_handles_mutex);
  if (!handle || !live_handles().erase(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  return kiln::gpu::column_major_gemm(handle, kiln::MathPrecision::F32, transa, transb, m, n, k, alpha, A, lda, B, ldb,
                                      beta, C, ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  kiln::MathPrecision p{};
  if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F || !kiln::gpu::compute_precision(computeType, &p) ||
      (algo != CUBLAS_GEMM_DEFAULT && algo != CUBLAS_GEMM_DEFAULT_TENSOR_OP))
    return handle ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_NOT_INITIALIZED;
  return kiln::gpu::column_major_gemm(handle, p, transa, transb, m, n, k, static_cast<const float*>(alpha),
                                      static_cast<const float*>(A), lda, static_cast<const float*>(B), ldb,
                                      static_cast<const float*>(beta), static_cast<float*>(C), ldc);
}
#endif
