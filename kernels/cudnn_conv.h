// cuDNN's convolution beside kiln's own (the `cuda` build only): the reference row of the kernel
// benchmarks (kiln/cuDNN ratios) and one more version in the parity suite. Same signatures and
// gradient convention as kernels/conv2d.h (dx written, dw accumulated).
//
// Algorithms come from cuDNN's own search (cudnnFind*Algorithm, run once per shape and cached per
// host thread): the fastest deterministic one, as kiln's kernels are all deterministic. Math is CUDNN_FMA_MATH: true float32, no TF32 tensor cores, so the comparison with
// kiln's FP32 kernels is like for like.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/conv2d.h"

namespace kiln::gpu {

void conv2d_forward_cudnn(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                          const Stream& stream);
void conv2d_backward_data_cudnn(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                                const Stream& stream);
void conv2d_backward_filter_cudnn(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                                  const Stream& stream);

}  // namespace kiln::gpu
