// 2-D convolution, NCHW / OIHW, any kernel size, stride, padding, dilation and groups; the shapes
// and the definition are in kernels/shapes/conv2d.h. Pointers are device memory on the stream's
// device for kiln::gpu::, host memory for kiln::cpu::.
//
// Gradient convention: backward_data WRITES dx (=); backward_filter and backward_bias ACCUMULATE
// into dw and db (+=). Every pass is deterministic on both devices: the same inputs give the same
// bits, run after run, whatever the thread count (no float atomics; split reductions are summed in
// fixed chunks, in a fixed order, the chunks depending on the shape only).
//
// kiln::cpu:: is im2col + OpenBLAS SGEMM over blocks of images (one GEMM per block and group) on
// kiln's CPU workers, described in cpu_fallback/conv2d.cpp; backward_filter sums the batch in
// min(blocks, 8) fixed chunks (each to its own partial buffer), then adds the chunks in order.
// kiln::gpu:: (the unsuffixed launchers) is the best GPU version (v2, tile Auto), below.
#pragma once

#include "core/stream.h"
#include "kernels/gemm.h"
#include "kernels/shapes/conv2d.h"
#include "kernels/shapes/precision.h"

// The launchers, declared once (kernels/conv2d.inc) for both backends: kiln::gpu:: is defined in
// kernels/conv2d.cu, kiln::cpu:: in cpu_fallback/conv2d.cpp.
namespace kiln::gpu {
#include "kernels/conv2d.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/conv2d.inc"
}  // namespace kiln::cpu

// ---- GPU only: kiln's kernel versions (rows of the op table, tests/parity/cases_conv2d.cpp) ----
//   v1  naive direct kernels, one thread per output element (y, dx, dw or db), grid-stride; the
//       readable reference and the baseline of the benchmarks.
//   v2  implicit GEMM on kiln's SGEMM tile (kernels/gemm_tile.cuh: shared-memory tiles, double
//       buffering, 8x8 register micro-tiles, float4 loads where aligned), no im2col buffer:
//       forward          per group: M = K/G, N = N*P*Q, Kd = C/G*R*S; the B tile is gathered from x
//                        on the fly (out-of-image taps read 0); bias added in the epilogue.
//       backward_data    the transposed implicit GEMM in gather form, per group: M = C/G,
//                        N = N*H*W, Kd = K/G*R*S; dy(n, k, p, q) is gathered where the forward tap
//                        (r, s) of output (p, q) lands on (h, w): h + pad - r*dil = p*stride.
//       backward_filter  per group: M = K/G, N = C/G*R*S, Kd = N*P*Q split into chunks; each chunk's
//                        partial dw goes to the device workspace (core/workspace.h) and a second
//                        kernel adds the chunks to dw in chunk order. A single chunk adds directly.
//                        The chunk count depends only on the shape and tile (see
//                        conv2d_backward_filter_splits), never on the device. The workspace lease
//                        ends when the launcher returns, i.e. before a real GPU has run the kernels:
//                        this relies on the next borrower of the device's workspace issuing its work
//                        on the same stream (stream order then protects the partials).
//       backward_bias    one block per channel, a fixed-order block reduction (warp shuffles).
//   `tile` forces the 64x64 or 128x128 tile configuration (tests, benchmarks); Auto picks by size.
//   v3_tc  implicit GEMM on the tensor cores (sm_80+; kernels/conv2d_tc.cu, on kernels/mma_tile.cuh):
//       the v2 GEMM views, operands rounded to `precision` (TF32, BF16, F16; F32 is refused) as
//       their fragments are loaded, FP32 accumulation, i.e. conv2d_*_rounded's arithmetic. 128x128
//       block tiles of 8 warps, 16-deep k-tiles in a 4-stage cp.async pipeline that gathers x / dy
//       straight from NCHW (zero-fill for taps outside the image), bias in the epilogue;
//       backward_filter splits N*P*Q into chunks as v2 does (workspace, fixed-order second pass).
//       A device below sm_80 is an error here: conv2d_*_rounded picks the version by device
//       (kernels/compute_capability.h), below sm_80 rounded copies of the operands through v2
//       (kernels/conv2d_rounded.cu; products of rounded operands are exact in FP32, so that is the
//       tensor cores' arithmetic on CUDA cores).
// cuDNN's convolution, the benchmarks' reference, is kernels/cudnn_conv.h (`cuda` build only).
namespace kiln::gpu {

void conv2d_forward_v1(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                       const Stream& stream);
void conv2d_forward_v2(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                       const Stream& stream, GemmTile tile = GemmTile::Auto);

void conv2d_backward_data_v1(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                             const Stream& stream);
void conv2d_backward_data_v2(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                             const Stream& stream, GemmTile tile = GemmTile::Auto);

void conv2d_backward_filter_v1(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                               const Stream& stream);
void conv2d_backward_filter_v2(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                               const Stream& stream, GemmTile tile = GemmTile::Auto);

void conv2d_backward_bias_v1(const Conv2dShape& shape, const float* dy, float* db, const Stream& stream);
void conv2d_backward_bias_v2(const Conv2dShape& shape, const float* dy, float* db, const Stream& stream);

void conv2d_forward_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* w,
                          const float* bias, float* y, const Stream& stream);
void conv2d_backward_data_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* dy, const float* w,
                                float* dx, const Stream& stream);
void conv2d_backward_filter_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* dy,
                                  float* dw, const Stream& stream);

// The number of reduction chunks backward_filter_v2 uses for `shape` (1 = no workspace): a
// function of the shape and tile only, so results are reproducible across runs and devices.
int conv2d_backward_filter_splits(const Conv2dShape& shape, GemmTile tile = GemmTile::Auto);

}  // namespace kiln::gpu
