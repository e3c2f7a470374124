// Batch normalisation per channel (PyTorch's BatchNorm1d and BatchNorm2d). Pointers are
// device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/batchnorm.h"

// The launchers, declared once (kernels/batchnorm.inc) for both backends: kiln::gpu:: is defined in
// kernels/batchnorm.cu, kiln::cpu:: in cpu_fallback/batchnorm.cpp.
namespace kiln::gpu {
#include "kernels/batchnorm.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/batchnorm.inc"
}  // namespace kiln::cpu
