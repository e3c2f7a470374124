// Per-channel bias add and its gradient, over (N, C, inner). Pointers are device memory on the
// stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/bias.h"

// The launchers, declared once (kernels/bias.inc) for both backends: kiln::gpu:: is defined in
// kernels/bias.cu, kiln::cpu:: in cpu_fallback/bias.cpp.
namespace kiln::gpu {
#include "kernels/bias.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/bias.inc"
}  // namespace kiln::cpu
