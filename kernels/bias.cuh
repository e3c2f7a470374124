// GPU per-channel bias add and its gradient. Semantics in kernels/shapes/bias.h; the CPU twins are
// in cpu_fallback/bias.h. Device pointers.
#pragma once

#include "kernels/shapes/bias.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// y[n, c, i] += bias[c]  (in place)
void bias_add(const BiasShape& shape,
              const float* bias,  // (C)
              float* y,           // (N, C, inner)
              const Stream& stream);

// db[c] += sum_{n, i} dy[n, c, i]  (ACCUMULATED; double accumulation, deterministic)
void bias_backward(const BiasShape& shape,
                   const float* dy,  // (N, C, inner)
                   float* db,        // (C)
                   const Stream& stream);

}  // namespace kiln::gpu
