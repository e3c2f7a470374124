// GPU dropout with the Philox mask rule of kernels/shapes/dropout.h: the same (seed, offset) gives
// the CPU twins' (cpu_fallback/dropout.h) mask and outputs, bit for bit. Device pointers.
#pragma once

#include <cstdint>

#include "kernels/shapes/dropout.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// y = kept ? x * scale : 0; y == x allowed.
void dropout_forward(const DropoutShape& shape, const float* x, float* y, const Stream& stream);
// dx = kept ? dy * scale : 0 (mask recomputed from seed, offset); dx == dy allowed. WRITTEN.
void dropout_backward(const DropoutShape& shape, const float* dy, float* dx, const Stream& stream);
// mask[i] = kept ? 1 : 0 (for tests and inspection).
void dropout_mask(const DropoutShape& shape, uint8_t* mask, const Stream& stream);

}  // namespace kiln::gpu
