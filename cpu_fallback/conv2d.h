// CPU convolution: im2col + OpenBLAS SGEMM over blocks of images (one GEMM per block and group),
// OpenMP over the blocks; the scheme is described in cpu_fallback/conv2d.cpp.
// Same signatures as kiln::gpu:: (kernels/conv2d.cuh); shapes and semantics in kernels/shapes/conv2d.h.
//
// Gradient convention: backward_data WRITES dx (=); backward_filter and backward_bias
// ACCUMULATE into dw and db (+=).
// Determinism: every result is independent of the thread count. backward_filter sums the batch
// in min(blocks, 8) fixed chunks (each to its own partial buffer), then adds the chunks in order;
// the blocks depend on the shape only.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/conv2d.h"

namespace kiln::cpu {

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

}  // namespace kiln::cpu
