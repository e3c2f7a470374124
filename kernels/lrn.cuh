// GPU local response normalisation across channels (AlexNet). Semantics in kernels/shapes/lrn.h;
// the CPU twins are in cpu_fallback/lrn.h. Device pointers.
#pragma once

#include "kernels/shapes/lrn.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

void lrn_forward(const LrnShape& shape,
                 const float* x,  // (N, C, H, W)
                 float* y,        // (N, C, H, W)
                 float* scale,    // (N, C, H, W) kept for backward
                 const Stream& stream);

void lrn_backward(const LrnShape& shape,
                  const float* x,      // (N, C, H, W)
                  const float* y,      // (N, C, H, W)
                  const float* scale,  // (N, C, H, W)
                  const float* dy,     // (N, C, H, W)
                  float* dx,           // (N, C, H, W)  WRITTEN
                  const Stream& stream);

}  // namespace kiln::gpu
