// cuDNN's convolution beside kiln's own (the `cuda` build only): the reference row of the kernel
// benchmarks (kiln/cuDNN ratios) and one more version in the parity suite. Same signatures and
// gradient convention as kernels/conv2d.h (dx written, dw accumulated).
//
// Algorithms come from cuDNN's own search (cudnnFind*Algorithm, run once per shape and cached per
// host thread): the fastest deterministic one, as kiln's kernels are all deterministic. Math is CUDNN_FMA_MATH: true float32, no TF32 tensor cores, so the comparison with
// kiln's FP32 kernels is like for like.
//
// The overloads with a MathPrecision are the references of the tensor-core kernels (v3_tc) in the
// same precision: TF32 keeps FP32 tensors and sets CUDNN_DEFAULT_MATH (TF32 tensor cores allowed;
// cuDNN rounds the operands its own way); BF16 and F16 need 16-bit tensors, so the operands are
// converted on the way in (round to nearest even, kernels/convert.h: the same 16-bit values v3_tc
// multiplies) and the result on the way out (FP32 compute inside, the output rounded to 16 bits),
// with CUDNN_TENSOR_OP_MATH. Those conversions are extra passes over x, w, dy, y / dx / dw that a
// network kept in 16 bits would not pay: the timings include them. The bias is added in FP32;
// backward_filter computes dw's update in 16 bits, widens it and adds it to the FP32 dw.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/conv2d.h"
#include "kernels/shapes/precision.h"

namespace kiln::gpu {

void conv2d_forward_cudnn(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                          const Stream& stream);
void conv2d_backward_data_cudnn(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                                const Stream& stream);
void conv2d_backward_filter_cudnn(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                                  const Stream& stream);

void conv2d_forward_cudnn(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* w,
                          const float* bias, float* y, const Stream& stream);
void conv2d_backward_data_cudnn(const Conv2dShape& shape, MathPrecision precision, const float* dy, const float* w,
                                float* dx, const Stream& stream);
void conv2d_backward_filter_cudnn(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* dy,
                                  float* dw, const Stream& stream);

}  // namespace kiln::gpu
