// Binary cross-entropy terms (BCELoss), elementwise. Pointers are device memory on the stream's
// device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/bce.h"

// The launchers, declared once (kernels/bce.inc) for both backends: kiln::gpu:: is defined in
// kernels/bce.cu, kiln::cpu:: in cpu_fallback/bce.cpp.
namespace kiln::gpu {
#include "kernels/bce.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/bce.inc"
}  // namespace kiln::cpu
