// The fused pointwise GRU cell, forward and backward (the GEMMs around it are kernels/gemm.h). The
// float math is the same on both devices, so they agree to the last ulps of expf/tanhf. Pointers
// are device memory on the stream's device for kiln::gpu::, host memory for kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/gru.h"

// The launchers, declared once (kernels/gru.inc) for both backends: kiln::gpu:: is defined in
// kernels/gru.cu, kiln::cpu:: in cpu_fallback/gru.cpp.
namespace kiln::gpu {
#include "kernels/gru.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/gru.inc"
}  // namespace kiln::cpu
