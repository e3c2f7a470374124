// Random fills from Philox4x32-10 keyed by (seed, offset): element i is the same number on the CPU
// and the GPU, and the one kiln::philox_uniform / philox_normal give, bit for bit. Pointers are
// device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/random.h"

// The launchers, declared once (kernels/random.inc) for both backends: kiln::gpu:: is defined in
// kernels/random.cu, kiln::cpu:: in cpu_fallback/random.cpp.
namespace kiln::gpu {
#include "kernels/random.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/random.inc"
}  // namespace kiln::cpu
