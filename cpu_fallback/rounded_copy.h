// An operand copy rounded to a MathPrecision: how the CPU twins of the tensor-core ops (GEMM,
// convolution) get the tensor cores' semantics at SGEMM speed (kernels/shapes/precision.h).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/shapes/precision.h"

namespace kiln::cpu::detail {

// x[0..n) rounded to p, widened back to float (exact). OpenMP over large arrays.
std::vector<float> rounded_copy(MathPrecision p, const float* x, int64_t n);

}  // namespace kiln::cpu::detail
