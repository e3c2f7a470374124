// CPU GEMM through OpenBLAS (row-major). Semantics in kernels/shapes/gemm.h.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/gemm.h"

namespace kiln::cpu {

void gemm(const GemmShape& shape,
          const float* a,  // (M, K), or (K, M) if trans_a
          const float* b,  // (K, N), or (N, K) if trans_b
          float* c,        // (M, N)
          const Stream& stream);

}  // namespace kiln::cpu
