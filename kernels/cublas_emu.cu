// The emulate build's cublasSgemm & co (kernels/cublas_emu.h): column-major reference semantics,
// one thread per element of C in a grid-stride loop, float accumulation in k order, launched on the
// handle's stream like any kernel. Compiled only in the emulate build (nothing in the cuda build).
#if KILN_WITH_EMULATOR
#include "kernels/cublas_emu.h"

#include <cstdint>
#include <mutex>
#include <set>

#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
column_major_sgemm_kernel(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                          int ldb, float beta, float* c, int ldc) {
  const int64_t total = static_cast<int64_t>(m) * n;
  for (int64_t e = blockIdx.x * int64_t{kThreads} + threadIdx.x; e < total; e += int64_t{gridDim.x} * kThreads) {
    const int i = static_cast<int>(e % m), j = static_cast<int>(e / m);  // C(i, j) = c[i + j * ldc]
    float acc = 0.0f;
    for (int l = 0; l < k; ++l) {
      const float av = ta ? a[l + static_cast<int64_t>(i) * lda] : a[i + static_cast<int64_t>(l) * lda];
      const float bv = tb ? b[j + static_cast<int64_t>(l) * ldb] : b[l + static_cast<int64_t>(j) * ldb];
      acc += av * bv;
    }
    float& out = c[i + static_cast<int64_t>(j) * ldc];
    out = beta == 0.0f ? alpha * acc : alpha * acc + beta * out;
  }
}

int at_least_one(int v) { return v > 1 ? v : 1; }

}  // namespace
}  // namespace kiln::gpu

// Live handles, as the library keeps them: kiln keeps one per host thread for the life of the
// process (kernels/gemm.cu), so they stay reachable here rather than show as leaks at exit.
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
  using kiln::gpu::at_least_one;
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;  // OP_C is OP_T for real numbers
  if (m < 0 || n < 0 || k < 0 || !alpha || !beta || lda < at_least_one(ta ? k : m) ||
      ldb < at_least_one(tb ? n : k) || ldc < at_least_one(m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const int64_t total = static_cast<int64_t>(m) * n;
  kiln::launch(kiln::gpu::column_major_sgemm_kernel, kiln::gpu::grid_blocks(total, kiln::gpu::kThreads),
               kiln::gpu::kThreads, 0, handle->stream, ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}
#endif
