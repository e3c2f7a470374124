// The axis swap batch-first (N, T, F) <-> time-major (T, N, F) of the recurrent layers. Pointers
// are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/swap_axes.h"

// The launchers, declared once (kernels/swap_axes.inc) for both backends: kiln::gpu:: is defined in
// kernels/swap_axes.cu, kiln::cpu:: in cpu_fallback/swap_axes.cpp.
namespace kiln::gpu {
#include "kernels/swap_axes.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/swap_axes.inc"
}  // namespace kiln::cpu
