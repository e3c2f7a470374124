// GEMM, row-major: C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
// (kernels/shapes/gemm.h). kiln::cpu::gemm is OpenBLAS SGEMM, cut into shape-determined pieces on
// kiln's CPU workers (the same bits for any thread count). kiln::gpu::gemm is the version the
// layers use: cuBLAS in the `cuda` build; in the emulator v2_tiled, or the cuBLAS path on an
// emulated cublasSgemm when KILN_EMU_GEMM=cublas (set_gemm_through_cublas). Pointers are device memory on
// the stream's device for kiln::gpu::, host memory for kiln::cpu::.
//
// gemm_rounded (TF32, BF16, F16 operands, FP32 accumulation; kernels/shapes/precision.h) is one
// meaning on every device (DESIGN.md, principle 9), chosen at run time by gpu::gemm_rounded
// (kernels/gemm_rounded.cu) from the build and the compute capability (kernels/compute_capability.h):
//   sm_80 and later, cuda build            cuBLAS GemmEx in the precision (gemm_cublas_rounded)
//   sm_80 and later, emulate build         kiln's v3_tc, or GemmEx (emulated) when gemm_through_cublas()
//   older devices (no TF32/BF16 tensor     copies of A and B rounded to the precision (temporaries on
//     cores), either build                 the stream), then GemmEx on them where gemm_through_cublas()
//                                          (always in the cuda build: whatever cuBLAS does with rounded
//                                          operands is exact, and Turing keeps its F16 tensor cores),
//                                          else the FP32 gemm; logged once per device
// The CPU twin, cpu::gemm_rounded, rounds copies and runs SGEMM. Why not GemmEx alone on old
// devices: cuBLAS's FAST compute types only *allow* down-conversion, and where the device has no
// tensor cores for the format cuBLAS computes in FP32, which is not what a CPU run predicts.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/gemm.h"
#include "kernels/shapes/precision.h"

// The launchers, declared once (kernels/gemm.inc) for both backends: kiln::gpu:: is defined in
// kernels/gemm.cu (gemm) and kernels/gemm_rounded.cu (gemm_rounded), kiln::cpu:: in
// cpu_fallback/gemm.cpp.
namespace kiln::gpu {
#include "kernels/gemm.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/gemm.inc"
}  // namespace kiln::cpu

// ---- GPU only: kiln's kernel versions (the CPU has one GEMM) ----
// Each is a row of the op table (tests/parity/cases_gemm.cpp):
//   v1_naive   one thread per element of C, a plain dot product (the readable reference).
//   v2_tiled   kiln's tiled SGEMM (kernels/gemm_tile.cuh): shared-memory tiles double-buffered,
//              8x8 register micro-tiles per thread, float4 global loads where the contiguous
//              dimension is a multiple of 4 and the pointer 16-byte aligned, float4 stores likewise,
//              explicit tails for any M, N, K. Two tile sizes: 128x128 (256 threads) for big
//              problems and 64x64 (64 threads) otherwise; `GemmTile` forces one (tests, benchmarks).
//   cublas     cuBLAS SGEMM: the row-major problem is the column-major C^T = op(B)^T op(A)^T, so
//              the operands are passed swapped (gemm_cublas_strided). One cublasHandle_t per
//              (host thread, device), created lazily and kept for the life of the process; its
//              stream is set on every call. The cuda build calls libcublas; the emulate build runs
//              the very same code on kernels/cublas_emu.h, an emulated cublasSgemm with cuBLAS's
//              column-major semantics and argument checks, so the mapping is tested here.
//   v3_tc      kiln's tensor-core GEMM (kernels/gemm_tc.cu): FP32 operands in memory rounded to
//              TF32, BF16 or F16 on the way to the mma.sync instructions, FP32 accumulation; 128x128x32
//              block tiles, 8 warps of 64x32, a cp.async pipeline. sm_80 and later: on an older
//              device it throws kiln::Error (checked once per device from the compute capability;
//              gemm_rounded takes the rounded-copies path there instead).
//              Its CPU twin is cpu::gemm_rounded (op table rows gemm_tf32, gemm_bf16, gemm_f16).
//   cublas in gemm_tf32/_bf16/_f16  cuBLAS GemmEx (gemm_cublas_rounded): A, B and C CUDA_R_32F,
//              compute type CUBLAS_COMPUTE_32F_FAST_TF32 / _FAST_16BF / _FAST_16F, CUBLAS_GEMM_DEFAULT,
//              the same swapped-operand mapping as SGEMM: FP32 in memory, down-converted inside
//              cuBLAS for the tensor cores, FP32 accumulation. What cuBLAS guarantees and what not
//              (cublas_api.h; cuBLAS guide, "cublasComputeType_t", "Tensor Core Usage"):
//                guaranteed  FP32 data in and out, FP32 accumulation (a COMPUTE_32F type), the
//                            BLAS semantics of alpha, beta and the transposes;
//                not         that the operands are down-converted at all (FAST types *allow* it:
//                            FAST_TF32 to TF32, FAST_16BF to BF16 or TF32, FAST_16F to F16 or TF32;
//                            a kernel without tensor cores, e.g. for an awkward shape, computes
//                            FP32), nor how: kiln rounds TF32 to nearest, ties away (cvt.rna), and
//                            cuBLAS may round ties to even or truncate (the tensor cores read only a
//                            TF32's 19 bits of an FP32 register), nor the order of the sums (split-K).
//              So a cuBLAS row's result lies within the precision's rounding of the CPU twin's, not
//              within FP32 summation noise: its parity tolerance is derived from the precision's
//              unit roundoff u (tests/parity/cases_gemm.cpp, cublas_rounded_tolerance), not the
//              FP32 one v3_tc meets. The emulated GemmEx (kernels/cublas_emu.h) always rounds
//              as kiln does, so on the emulator the rows test the mapping, on a GPU the bound.
namespace kiln::gpu {

// The tile configuration of kiln's tiled kernels (GEMM and the implicit-GEMM convolutions).
enum class GemmTile { Auto, T64, T128 };

void gemm_v1_naive(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream);
void gemm_v2_tiled(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream,
                   GemmTile tile = GemmTile::Auto);

// precision: TF32, BF16 or F16 (F32 is an error: tensor cores have no FP32 mode).
void gemm_v3_tc(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                const Stream& stream);

void gemm_cublas(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream);
// cuBLAS GemmEx with op(A), op(B) in `precision` (F32: gemm_cublas), FP32 accumulation; see above
// for what cuBLAS guarantees.
void gemm_cublas_rounded(const GemmShape& shape, MathPrecision precision, const float* a, const float* b, float* c,
                         const Stream& stream);
// The same with row strides of at least the packed ones (lda >= shape.lda(), ...): A's rows lda
// floats apart, B's ldb, C's ldc.
void gemm_cublas_strided(const GemmShape& shape, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                         const Stream& stream);

// Which GEMM gemm() runs. The cuda build: always cuBLAS. The emulate build: kiln's v2_tiled, or
// the cuBLAS path on the emulated cublasSgemm when env KILN_EMU_GEMM=cublas (read at the first
// call; `tiled` or unset: v2_tiled) or after set_gemm_through_cublas(true). Tests use it to run
// layers and training through the production mapping.
void set_gemm_through_cublas(bool on);
bool gemm_through_cublas();

}  // namespace kiln::gpu
