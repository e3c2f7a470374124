// GPU plain RNN cell (forward and backward), the pointwise part of nn.RNN. Semantics and layouts
// in kernels/shapes/rnn.h; the CPU twins with the same signatures are in cpu_fallback/rnn.h.
// Pointers are device memory.
#pragma once

#include "kernels/shapes/rnn.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// h WRITTEN = act(xg + hg + b_ih + b_hh). hg, b_ih, b_hh may be nullptr (zero); h may alias a
// packed xg.
void rnn_cell_forward(const RnnCellShape& shape,
                      const float* xg,    // (N, H), rows x_stride apart
                      const float* hg,    // (N, H) or nullptr
                      const float* b_ih,  // (H) or nullptr
                      const float* b_hh,  // (H) or nullptr
                      float* h,           // (N, H)
                      const Stream& stream);

// da WRITTEN = dh * act'(pre-activation), from the output h. da may alias dh.
void rnn_cell_backward(const RnnCellShape& shape,
                       const float* h,   // (N, H) from forward
                       const float* dh,  // (N, H)
                       float* da,        // (N, H) gradient of the pre-activation
                       const Stream& stream);

}  // namespace kiln::gpu
