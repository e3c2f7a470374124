// kiln's cuBLAS path: the row-major to column-major mapping for SGEMM (gemm_cublas) and for GemmEx
// in the lower precisions (gemm_cublas_rounded), the per-thread handles, and the emulate build's
// switch that routes gemm() through it. libcublas in the `cuda` build; in the emulate build the
// emulated cublasSgemm / cublasGemmEx (kernels/cublas_emu.h) run this very code. Semantics and
// what cuBLAS guarantees in the lower precisions: kernels/gemm.h.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/device.h"
#include "core/error.h"
#include "core/stream.h"
#include "kernels/gemm.h"
#include "kernels/launch.cuh"

#if KILN_WITH_CUDA
#include <cublas_v2.h>

#include "core/cuda_check.h"
#include "core/cuda_libs_check.h"
#else
#include "kernels/cublas_emu.h"
#endif

namespace kiln::gpu {
namespace {

// One handle per (host thread, device): handles are not meant to be shared by threads that set
// different streams on them. Never destroyed (destroying after the CUDA context has gone at exit
// is an error, and a handle per thread per device is small).
static cublasHandle_t cublas_handle(const Stream& stream) {
  thread_local std::map<int, cublasHandle_t> handles;
  const int device = stream.device().index;
  auto it = handles.find(device);
  if (it == handles.end()) {
    set_current_device(stream.device());
    cublasHandle_t h = nullptr;
    KILN_CUBLAS_CHECK(cublasCreate(&h));
    it = handles.emplace(device, h).first;
  }
  KILN_CUBLAS_CHECK(cublasSetStream(it->second, native_stream(stream)));
  return it->second;
}

// The compute type that lets cuBLAS down-convert FP32 operands to `p` on the tensor cores.
static cublasComputeType_t fast_compute_type(MathPrecision p) {
  switch (p) {
    case MathPrecision::TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MathPrecision::BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MathPrecision::F16: return CUBLAS_COMPUTE_32F_FAST_16F;
    case MathPrecision::F32: break;
  }
  return CUBLAS_COMPUTE_32F;
}

// C = alpha op(A) op(B) + beta C, row-major, with operands in precision `p` (F32: SGEMM). A
// row-major matrix with row stride ld is, read column-major, its transpose with leading dimension
// ld. So row-major C (M x N) = op(A) op(B) is column-major C^T (N x M) = op(B)^T (N x K) *
// op(A)^T (K x M): cuBLAS gets B first, then A, M and N swap, and every operand keeps its own
// transpose flag and stride.
static void row_major_gemm(const GemmShape& s, MathPrecision p, const float* a, int lda, const float* b, int ldb,
                           float* c, int ldc, const Stream& stream) {
  s.validate();
  KILN_CHECK(lda >= s.lda() && ldb >= s.ldb() && ldc >= s.ldc(),
             "gemm: row strides (lda, ldb, ldc) = ({}, {}, {}) below the rows' lengths ({}, {}, {})", lda, ldb, ldc,
             s.lda(), s.ldb(), s.ldc());
  cublasHandle_t h = cublas_handle(stream);
  const cublasOperation_t op_b = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (p == MathPrecision::F32) {
    KILN_CUBLAS_CHECK(cublasSgemm(h, op_b, op_a, s.n, s.m, s.k, &s.alpha, b, ldb, a, lda, &s.beta, c, ldc));
    return;
  }
  KILN_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, s.n, s.m, s.k, &s.alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda,
                                 &s.beta, c, CUDA_R_32F, ldc, fast_compute_type(p), CUBLAS_GEMM_DEFAULT));
}

// The emulate build's setting (kernels/gemm.h): -1 = not read from the environment yet.
std::atomic<int> g_gemm_through_cublas{-1};

}  // namespace

void gemm_cublas_strided(const GemmShape& shape, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                         const Stream& stream) {
  row_major_gemm(shape, MathPrecision::F32, a, lda, b, ldb, c, ldc, stream);
}

void gemm_cublas(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream) {
  row_major_gemm(shape, MathPrecision::F32, a, shape.lda(), b, shape.ldb(), c, shape.ldc(), stream);
}

void gemm_cublas_rounded(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                         const Stream& stream) {
  row_major_gemm(shape, precision, a, shape.lda(), b, shape.ldb(), c, shape.ldc(), stream);
}

void set_gemm_through_cublas(bool on) { g_gemm_through_cublas = on ? 1 : 0; }

bool gemm_through_cublas() {
#if KILN_WITH_CUDA
  return true;
#else
  if (g_gemm_through_cublas < 0) {
    const char* v = std::getenv("KILN_EMU_GEMM");
    KILN_CHECK(!v || !*v || std::strcmp(v, "cublas") == 0 || std::strcmp(v, "tiled") == 0,
               "KILN_EMU_GEMM={} is not a GEMM path: use cublas or tiled", v);
    g_gemm_through_cublas = v && std::strcmp(v, "cublas") == 0 ? 1 : 0;
  }
  return g_gemm_through_cublas == 1;
#endif
}

}  // namespace kiln::gpu
