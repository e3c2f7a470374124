// Max and average pooling (NCHW). Backward passes are gathers over the windows that cover each
// input (no atomics): dx is WRITTEN and bit-identical run to run. Pointers are device memory on the
// stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/pool2d.h"

// The launchers, declared once (kernels/pool2d.inc) for both backends: kiln::gpu:: is defined in
// kernels/pool2d.cu, kiln::cpu:: in cpu_fallback/pool2d.cpp.
namespace kiln::gpu {
#include "kernels/pool2d.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/pool2d.inc"
}  // namespace kiln::cpu
