// Activations (relu, leaky relu, elu, sigmoid, tanh), elementwise; the backward reads the OUTPUT y
// (kernels/shapes/activation.h says why). Pointers are device memory on the stream's device for
// kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/activation.h"

// The launchers, declared once (kernels/activation.inc) for both backends: kiln::gpu:: is defined in
// kernels/activation.cu, kiln::cpu:: in cpu_fallback/activation.cpp.
namespace kiln::gpu {
#include "kernels/activation.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/activation.inc"
}  // namespace kiln::cpu
