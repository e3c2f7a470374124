// CPU dropout with the Philox mask rule of kernels/shapes/dropout.h (identical on the GPU).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/dropout.h"

namespace kiln::cpu {

// y = kept ? x * scale : 0; y == x allowed.
void dropout_forward(const DropoutShape& shape, const float* x, float* y, const Stream& stream);
// dx = kept ? dy * scale : 0 (mask recomputed from seed, offset); dx == dy allowed. WRITTEN.
void dropout_backward(const DropoutShape& shape, const float* dy, float* dx, const Stream& stream);
// mask[i] = kept ? 1 : 0 (for tests and inspection).
void dropout_mask(const DropoutShape& shape, uint8_t* mask, const Stream& stream);

}  // namespace kiln::cpu
