// CPU GEMM: OpenBLAS SGEMM, cut into shape-determined pieces on kiln's CPU workers
// (detail::sgemm in cpu_fallback/parallel.h).
#include "kernels/gemm.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void gemm(const GemmShape& s, const float* a, const float* b, float* c, const Stream&) {
  s.validate();
  detail::sgemm(s.trans_a, s.trans_b, s.m, s.n, s.k, s.alpha, a, s.lda(), b, s.ldb(), s.beta, c, s.ldc());
}

}  // namespace kiln::cpu
