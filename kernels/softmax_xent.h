// Fused softmax cross-entropy. Pointers are device memory on the stream's device for kiln::gpu::,
// host memory for kiln::cpu::.
//
// One difference the device forces: on the GPU the labels live on the device, so a label outside
// [0, C) that is not ignore_label cannot throw there; its row gets a NaN loss (and NaN gradients),
// which makes the mean loss NaN, and the training loop's NaN check reports it. kiln::cpu:: throws
// kiln::Error naming the label and the row (the trainer checks up front that the model's classes
// cover the data's, so a correct config never meets either).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/softmax_xent.h"

// The launchers, declared once (kernels/softmax_xent.inc) for both backends: kiln::gpu:: is defined in
// kernels/softmax_xent.cu, kiln::cpu:: in cpu_fallback/softmax_xent.cpp.
namespace kiln::gpu {
#include "kernels/softmax_xent.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/softmax_xent.inc"
}  // namespace kiln::cpu
