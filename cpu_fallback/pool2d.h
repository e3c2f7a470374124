// CPU pooling. Semantics in kernels/shapes/pool2d.h. Backward passes are gathers (dx WRITTEN).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/pool2d.h"

namespace kiln::cpu {

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

}  // namespace kiln::cpu
