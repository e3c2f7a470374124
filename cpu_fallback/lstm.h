// CPU fused LSTM cell and axis swap. Semantics in kernels/shapes/lstm.h; same signatures as
// kernels/lstm.cuh.
#pragma once

#include "core/stream.h"
#include "kernels/shapes/lstm.h"

namespace kiln::cpu {

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

void lstm_cell_backward(const LstmCellShape& shape,
                        const float* gates,   // (N, 4H)
                        const float* c_prev,  // (N, H) or nullptr
                        const float* c,       // (N, H)
                        const float* dh,      // (N, H) or nullptr
                        const float* dc,      // (N, H) or nullptr
                        float* da,            // (N, 4H)
                        float* dc_prev,       // (N, H) or nullptr
                        const Stream& stream);

void swap_axes(const SwapAxesShape& shape, const float* x, float* y, const Stream& stream);

}  // namespace kiln::cpu
