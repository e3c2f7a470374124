// gpu::gemm_rounded: which GEMM runs a product in TF32, BF16 or F16 on this device (kernels/gemm.h,
// "gemm_rounded"), and the path for devices without TF32/BF16 tensor cores: round copies of A and
// B (gpu::rounded_temporary, kernels/convert.h), then the FP32 path on the copies.
#include "core/tensor.h"
#include "kernels/compute_capability.h"
#include "kernels/convert.h"
#include "kernels/gemm.h"

namespace kiln::gpu {

void gemm_rounded(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                  const Stream& stream) {
  if (precision == MathPrecision::F32) return gemm(shape, a, b, c, stream);
  shape.validate();
  if (!gemm_tensor_cores(stream.device())) {
    // On rounded operands every behaviour cuBLAS's FAST types allow gives exact products, so cuBLAS
    // (with whatever tensor cores the device has, e.g. Turing's F16) keeps the precision's meaning.
    const Tensor ra = rounded_temporary(precision, a, shape.a_size(), stream);
    const Tensor rb = rounded_temporary(precision, b, shape.b_size(), stream);
    if (gemm_through_cublas()) gemm_cublas_rounded(shape, precision, ra.data<float>(), rb.data<float>(), c, stream);
    else gemm(shape, ra.data<float>(), rb.data<float>(), c, stream);
    return;
  }
  if (gemm_through_cublas()) gemm_cublas_rounded(shape, precision, a, b, c, stream);
  else gemm_v3_tc(shape, precision, a, b, c, stream);
}

}  // namespace kiln::gpu
