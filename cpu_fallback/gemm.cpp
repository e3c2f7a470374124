// CPU GEMM: OpenBLAS SGEMM, cut into shape-determined pieces on kiln's CPU workers
// (detail::sgemm in cpu_fallback/parallel.h).
#include "kernels/gemm.h"

#include <vector>

#include "cpu_fallback/parallel.h"
#include "cpu_fallback/rounded_copy.h"

namespace kiln::cpu {

void gemm(const GemmShape& s, const float* a, const float* b, float* c, const Stream&) {
  s.validate();
  detail::sgemm(s.trans_a, s.trans_b, s.m, s.n, s.k, s.alpha, a, s.lda(), b, s.ldb(), s.beta, c, s.ldc());
}

// The tensor cores' semantics at SGEMM speed: round copies of the operands (O(MK + KN)), then the
// FP32 GEMM; the products of rounded operands are exact in FP32 (kernels/shapes/precision.h).
void gemm_rounded(const GemmShape& s, MathPrecision p, const float* a, const float* b, float* c,
                  const Stream& stream) {
  if (p == MathPrecision::F32) return gemm(s, a, b, c, stream);
  s.validate();
  const std::vector<float> ra = detail::rounded_copy(p, a, s.a_size()), rb = detail::rounded_copy(p, b, s.b_size());
  gemm(s, ra.data(), rb.data(), c, stream);
}

}  // namespace kiln::cpu
