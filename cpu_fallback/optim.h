// CPU optimiser updates. Semantics in kernels/shapes/optim.h.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/optim.h"

namespace kiln::cpu {

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

}  // namespace kiln::cpu
