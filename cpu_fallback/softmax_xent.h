// CPU fused softmax cross-entropy. Semantics in kernels/shapes/softmax_xent.h.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/softmax_xent.h"

namespace kiln::cpu {

// row_loss may be nullptr. mean_loss: mean over non-ignored rows (0 if none).
void softmax_xent_forward(const SoftmaxXentShape& shape,
                          const float* logits,    // (N, C)
                          const int32_t* labels,  // (N)
                          float* row_loss,        // (N) or nullptr; 0 for ignored rows
                          float* mean_loss,       // (1)
                          const Stream& stream);

// dlogits = (softmax(logits) - onehot(labels)) * dloss / count; ignored rows 0. WRITTEN.
void softmax_xent_backward(const SoftmaxXentShape& shape,
                           const float* logits,    // (N, C)
                           const int32_t* labels,  // (N)
                           float dloss,            // d(objective)/d(mean_loss), usually 1
                           float* dlogits,         // (N, C)
                           const Stream& stream);

}  // namespace kiln::cpu
