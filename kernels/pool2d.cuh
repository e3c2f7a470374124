// GPU max and average pooling (NCHW). Semantics in kernels/shapes/pool2d.h; the CPU twins with the
// same signatures are in cpu_fallback/pool2d.h. All pointers are device memory on the stream's
// device. Backward passes are gathers (no atomics): dx is WRITTEN and bit-identical run to run.
#pragma once

#include <cstdint>

#include "kernels/shapes/pool2d.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// argmax may be nullptr (inference); backward needs it.
void maxpool2d_forward(const Pool2dShape& shape,
                       const float* x,   // (N, C, H, W)
                       float* y,         // (N, C, P, Q)
                       int32_t* argmax,  // (N, C, P, Q) index ih*W + iw within the plane, or nullptr
                       const Stream& stream);

void maxpool2d_backward(const Pool2dShape& shape,
                        const float* dy,        // (N, C, P, Q)
                        const int32_t* argmax,  // (N, C, P, Q) from maxpool2d_forward
                        float* dx,              // (N, C, H, W)  WRITTEN
                        const Stream& stream);

void avgpool2d_forward(const Pool2dShape& shape,
                       const float* x,  // (N, C, H, W)
                       float* y,        // (N, C, P, Q)
                       const Stream& stream);

void avgpool2d_backward(const Pool2dShape& shape,
                        const float* dy,  // (N, C, P, Q)
                        float* dx,        // (N, C, H, W)  WRITTEN
                        const Stream& stream);

}  // namespace kiln::gpu
