// The plain (Elman) RNN cell, forward and backward (the GEMMs around it are kernels/gemm.h). Same
// sum order and activation on both devices: relu agrees bit for bit, tanh to the last ulps of
// tanhf. Pointers are device memory on the stream's device for kiln::gpu::, host memory for
// kiln::cpu::.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/rnn.h"

// The launchers, declared once (kernels/rnn.inc) for both backends: kiln::gpu:: is defined in
// kernels/rnn.cu, kiln::cpu:: in cpu_fallback/rnn.cpp.
namespace kiln::gpu {
#include "kernels/rnn.inc"
}  // namespace kiln::gpu
namespace kiln::cpu {
#include "kernels/rnn.inc"
}  // namespace kiln::cpu
