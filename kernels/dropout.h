// Inverted dropout with the Philox mask rule of kernels/shapes/dropout.h: the same (seed, offset)
// gives the same mask and outputs on the CPU and the GPU, bit for bit; no mask buffer is kept.
// Pointers are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/dropout.h"

// The launchers, declared once (kernels/dropout.inc) for both backends: kiln::gpu:: is defined in
// kernels/dropout.cu, kiln::cpu:: in cpu_fallback/dropout.cpp.
namespace kiln::gpu {
#include "kernels/dropout.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/dropout.inc"
}  // namespace kiln::cpu
