// Conversions between FP32 and the 16-bit formats (BF16, F16) of mixed-precision tensors, and
// FP32 rounded in place to a MathPrecision.
// Pointers are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/half.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/shapes/convert.h"
#include "kernels/shapes/precision.h"

// The launchers, declared once (kernels/convert.inc) for both backends: kiln::gpu:: is defined in
// kernels/convert.cu, kiln::cpu:: in cpu_fallback/convert.cpp.
namespace kiln::gpu {
#include "kernels/convert.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/convert.inc"
}  // namespace kiln::cpu

// ---- GPU only ----
namespace kiln::gpu {

// A copy of x[0..n) rounded to p, in a temporary allocated on `stream`: the operands of TF32/BF16/
// F16 products on devices without those tensor cores (gemm_rounded, conv2d_*_rounded). It may be
// freed as soon as the work reading it is queued: the caching allocator hands the block out again
// only to work queued later on the same stream.
Tensor rounded_temporary(MathPrecision p, const float* x, int64_t n, const Stream& stream);

}  // namespace kiln::gpu
