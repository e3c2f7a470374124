// GPU optimiser updates (SGD with momentum/Nesterov/weight decay, Adam/AdamW). Semantics in
// kernels/shapes/optim.h; the CPU twins are in cpu_fallback/optim.h. Device pointers; the state
// buffers are updated in place.
#pragma once

#include "kernels/shapes/optim.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// momentum_buf may be nullptr when shape.momentum == 0.
void sgd_update(const SgdShape& shape,
                float* param,         // (count)
                const float* grad,    // (count)
                float* momentum_buf,  // (count) or nullptr
                const Stream& stream);

void adam_update(const AdamShape& shape,
                 float* param,       // (count)
                 const float* grad,  // (count)
                 float* m,           // (count) first moment
                 float* v,           // (count) second moment
                 const Stream& stream);

}  // namespace kiln::gpu
