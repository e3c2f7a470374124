// Reductions for the training loop: sum, sum of squares (gradient norm), correct-prediction count,
// accumulated in double in a fixed order. Pointers are device memory on the stream's device for
// kiln::gpu::, host memory for kiln::cpu::. `out` is on the same side as the inputs (copy it back
// when the host needs the value).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/reduce.h"

// The launchers, declared once (kernels/reduce.inc) for both backends: kiln::gpu:: is defined in
// kernels/reduce.cu, kiln::cpu:: in cpu_fallback/reduce.cpp.
namespace kiln::gpu {
#include "kernels/reduce.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/reduce.inc"
}  // namespace kiln::cpu
