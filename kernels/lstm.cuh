// GPU recurrent-network ops: the fused LSTM cell (forward and backward) and the batch-first <->
// time-major axis swap. Semantics and layouts in kernels/shapes/lstm.h; the CPU twins with the same
// signatures are in cpu_fallback/lstm.h. Pointers are device memory.
#pragma once

#include "kernels/shapes/lstm.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// gates, c, h WRITTEN. hg, b_ih, b_hh, c_prev may be nullptr (zero).
void lstm_cell_forward(const LstmCellShape& shape,
                       const float* xg,      // (N, 4H), rows x_stride apart
                       const float* hg,      // (N, 4H) or nullptr
                       const float* b_ih,    // (4H) or nullptr
                       const float* b_hh,    // (4H) or nullptr
                       const float* c_prev,  // (N, H) or nullptr
                       float* gates,         // (N, 4H) activated i, f, g, o
                       float* c,             // (N, H)
                       float* h,             // (N, H)
                       const Stream& stream);

// da, dc_prev WRITTEN (dc_prev may be nullptr: not wanted). c_prev, dh, dc may be nullptr (zero).
void lstm_cell_backward(const LstmCellShape& shape,
                        const float* gates,   // (N, 4H) from forward
                        const float* c_prev,  // (N, H) or nullptr
                        const float* c,       // (N, H) from forward
                        const float* dh,      // (N, H) or nullptr
                        const float* dc,      // (N, H) or nullptr
                        float* da,            // (N, 4H) gradient of the gate pre-activations
                        float* dc_prev,       // (N, H) or nullptr
                        const Stream& stream);

// y (B, A, inner) = x (A, B, inner) with the first two axes swapped. WRITTEN, not in place.
void swap_axes(const SwapAxesShape& shape, const float* x, float* y, const Stream& stream);

}  // namespace kiln::gpu
