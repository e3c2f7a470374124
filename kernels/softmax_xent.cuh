// GPU fused softmax cross-entropy. Semantics in kernels/shapes/softmax_xent.h; the CPU twins with
// the same signatures are in cpu_fallback/softmax_xent.h. Pointers are device memory.
//
// One difference the device forces: labels live on the device, so a label outside [0, C) that is
// not ignore_label cannot throw here; its row gets a NaN loss (and NaN gradients), which makes the
// mean loss NaN: the training loop's NaN check then reports it. The CPU twin throws.
#pragma once

#include <cstdint>

#include "kernels/shapes/softmax_xent.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// row_loss may be nullptr. mean_loss: mean over non-ignored rows (0 if none); both device memory.
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
                           float dloss,            // d(objective)/d(mean_loss), usually 1 (a host value)
                           float* dlogits,         // (N, C)
                           const Stream& stream);

}  // namespace kiln::gpu
