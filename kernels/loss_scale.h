// Dynamic loss scaling for FP16 mixed-precision training (kernels/shapes/loss_scale.h). Pointers
// are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/loss_scale.h"

// The launchers, declared once (kernels/loss_scale.inc) for both backends: kiln::gpu:: is defined
// in kernels/loss_scale.cu, kiln::cpu:: in cpu_fallback/loss_scale.cpp.
namespace kiln::gpu {
#include "kernels/loss_scale.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/loss_scale.inc"
}  // namespace kiln::cpu
