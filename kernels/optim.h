// Optimiser updates, elementwise over one parameter buffer and its state (PyTorch semantics).
// Pointers are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/optim.h"

// The launchers, declared once (kernels/optim.inc) for both backends: kiln::gpu:: is defined in
// kernels/optim.cu, kiln::cpu:: in cpu_fallback/optim.cpp.
namespace kiln::gpu {
#include "kernels/optim.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/optim.inc"
}  // namespace kiln::cpu
