// GPU activations (relu, leaky relu, elu, sigmoid, tanh). Semantics in kernels/shapes/activation.h
// (backward reads the OUTPUT y); the CPU twins are in cpu_fallback/activation.h. Device pointers.
#pragma once

#include "kernels/shapes/activation.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

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

}  // namespace kiln::gpu
