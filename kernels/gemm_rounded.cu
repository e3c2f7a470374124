// gpu::gemm_rounded: which GEMM runs a product in TF32, BF16 or F16 on this device (kernels/gemm.h,
// "gemm_rounded"), and the path for devices without TF32/BF16 tensor cores: round copies of A and
// B into the device's workspace, then the FP32 GEMM on the copies.
#include <cstdint>

#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/compute_capability.h"
#include "kernels/gemm.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kRoundThreads = 256;

__global__ void __launch_bounds__(kRoundThreads)
round_kernel(MathPrecision p, const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{kRoundThreads} + threadIdx.x; i < n; i += int64_t{gridDim.x} * kRoundThreads)
    y[i] = round_to_precision(p, x[i]);
}

// Copies of A and B rounded to `p` (B's copy 256-byte aligned, as cuBLAS and float4 loads like),
// then `run` on them. The workspace stays leased until `run` has queued its work on `stream`.
template <class Run>
void on_rounded_copies(const GemmShape& s, MathPrecision p, const float* a, const float* b, const Stream& stream,
                       Run&& run) {
  const int64_t a_floats = (s.a_size() + 63) / 64 * 64;
  Workspace::Lease lease =
      workspace_for(stream.device()).borrow(static_cast<size_t>(a_floats + s.b_size()) * sizeof(float), stream);
  float* ra = lease.as<float>();
  float* rb = ra + a_floats;
  launch(round_kernel, grid_blocks(s.a_size(), kRoundThreads), dim3(kRoundThreads), 0, stream, p, a, ra, s.a_size());
  launch(round_kernel, grid_blocks(s.b_size(), kRoundThreads), dim3(kRoundThreads), 0, stream, p, b, rb, s.b_size());
  run(ra, rb);
}

}  // namespace

void gemm_rounded(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                  const Stream& stream) {
  if (precision == MathPrecision::F32) return gemm(shape, a, b, c, stream);
  shape.validate();
  if (!gemm_tensor_cores(stream.device())) {
    // On rounded operands every behaviour cuBLAS's FAST types allow gives exact products, so cuBLAS
    // (with whatever tensor cores the device has, e.g. Turing's F16) keeps the precision's meaning.
    on_rounded_copies(shape, precision, a, b, stream, [&](const float* ra, const float* rb) {
      if (gemm_through_cublas()) gemm_cublas_rounded(shape, precision, ra, rb, c, stream);
      else gemm(shape, ra, rb, c, stream);
    });
    return;
  }
  if (gemm_through_cublas()) gemm_cublas_rounded(shape, precision, a, b, c, stream);
  else gemm_v3_tc(shape, precision, a, b, c, stream);
}

}  // namespace kiln::gpu
