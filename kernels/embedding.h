// Embedding lookup (nn.Embedding) and its deterministic backward. Pointers are device memory on the
// stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/embedding.h"

// The launchers, declared once (kernels/embedding.inc) for both backends: kiln::gpu:: is defined in
// kernels/embedding.cu, kiln::cpu:: in cpu_fallback/embedding.cpp.
namespace kiln::gpu {
#include "kernels/embedding.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/embedding.inc"
}  // namespace kiln::cpu
