// Training-step statistics on the step's device: accumulate_step_stats (loss and accuracy sums the
// host reads every log_every steps) and clip_scale (gradient clipping's scale, read by the
// optimiser kernels from memory). Pointers are device memory on the stream's device for
// kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/train_stats.h"

// The launchers, declared once (kernels/train_stats.inc) for both backends: kiln::gpu:: is defined
// in kernels/train_stats.cu, kiln::cpu:: in cpu_fallback/train_stats.cpp.
namespace kiln::gpu {
#include "kernels/train_stats.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/train_stats.inc"
}  // namespace kiln::cpu
