// 2-D convolution on the GPU, NCHW / OIHW, any kernel size, stride, padding, dilation and groups.
// Same signatures and semantics as kiln::cpu:: (cpu_fallback/conv2d.h); shapes and the definition
// are in kernels/shapes/conv2d.h.
//
// Gradient convention: backward_data WRITES dx (=); backward_filter and backward_bias ACCUMULATE
// into dw and db (+=). Every pass is deterministic: the same inputs give the same bits, run after
// run (no float atomics anywhere; split reductions are summed in a fixed order).
//
// Versions (rows of the op table, tests/parity/cases_conv2d.cpp):
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
// The unsuffixed launchers are the best version (v2, tile Auto): what the layers call.
#pragma once

#include "core/stream.h"
#include "kernels/gemm.cuh"
#include "kernels/shapes/conv2d.h"

namespace kiln::gpu {

// y = conv(x, w) + bias. bias may be nullptr (no bias).
void conv2d_forward(const Conv2dShape& shape,
                    const float* x,     // (N, C, H, W)
                    const float* w,     // (K, C/G, R, S)
                    const float* bias,  // (K) or nullptr
                    float* y,           // (N, K, P, Q)
                    const Stream& stream);

// dx = conv_transpose(dy, w)   (WRITTEN)
void conv2d_backward_data(const Conv2dShape& shape,
                          const float* dy,  // (N, K, P, Q)
                          const float* w,   // (K, C/G, R, S)
                          float* dx,        // (N, C, H, W)
                          const Stream& stream);

// dw += sum_n dy[n] (x) im2col(x[n])   (ACCUMULATED)
void conv2d_backward_filter(const Conv2dShape& shape,
                            const float* x,   // (N, C, H, W)
                            const float* dy,  // (N, K, P, Q)
                            float* dw,        // (K, C/G, R, S)
                            const Stream& stream);

// db[k] += sum_{n,p,q} dy[n,k,p,q]   (ACCUMULATED)
void conv2d_backward_bias(const Conv2dShape& shape,
                          const float* dy,  // (N, K, P, Q)
                          float* db,        // (K)
                          const Stream& stream);

// ---- versions ----
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

// The number of reduction chunks backward_filter_v2 uses for `shape` (1 = no workspace): a
// function of the shape and tile only, so results are reproducible across runs and devices.
int conv2d_backward_filter_splits(const Conv2dShape& shape, GemmTile tile = GemmTile::Auto);

}  // namespace kiln::gpu
