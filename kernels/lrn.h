// Local response normalisation across channels (AlexNet; PyTorch's LocalResponseNorm). Pointers are
// device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/lrn.h"

// The launchers, declared once (kernels/lrn.inc) for both backends: kiln::gpu:: is defined in
// kernels/lrn.cu, kiln::cpu:: in cpu_fallback/lrn.cpp.
namespace kiln::gpu {
#include "kernels/lrn.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/lrn.inc"
}  // namespace kiln::cpu
