// The few ops the training loop calls directly (the optimiser updates and the gradient norm in
// tools/train/solver.cpp, an accuracy count), dispatched on
// the tensor's device by KILN_DISPATCH (kernels/dispatch.h): kiln::gpu on a CUDA tensor, kiln::cpu
// on a host tensor (never a silent fallback between the two).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/shapes/optim.h"

namespace kiln::train_ops {

// grad_scale: nullptr, or a device float that replaces shape.grad_scale (clipping's scale).
void sgd_update(const SgdShape& shape, Tensor& param, const Tensor& grad, Tensor* momentum, const float* grad_scale,
                const Stream& stream);
void adam_update(const AdamShape& shape, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                 const float* grad_scale, const Stream& stream);
// Sum of squares of a float tensor (accumulated in double, returned to the host: a host read).
double sum_squares(const Tensor& x, const Stream& stream);
// Rows of logits (N, C) whose argmax equals the int32 label (labels equal to ignore_label never count);
// a host read (the trainer sums them on the device instead: tools/train/step_stats.h).
int64_t count_correct(const Tensor& logits, const Tensor& labels, const Stream& stream, int32_t ignore_label = -100);

}  // namespace kiln::train_ops
