// CPU activations. Semantics in kernels/shapes/activation.h: backward reads the OUTPUT y.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/activation.h"

namespace kiln::cpu {

// y = f(x); y == x allowed.
void activation_forward(const ActivationShape& shape,
                        const float* x,  // (count)
                        float* y,        // (count)
                        const Stream& stream);

// dx = dy * f'(x) computed from y; dx == dy allowed. WRITTEN.
void activation_backward(const ActivationShape& shape,
                         const float* y,   // (count) forward output
                         const float* dy,  // (count)
                         float* dx,        // (count)
                         const Stream& stream);

}  // namespace kiln::cpu
