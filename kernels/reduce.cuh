// GPU reductions for the training loop: sum, sum of squares (gradient norm), correct-prediction
// count. Semantics in kernels/shapes/reduce.h; the CPU twins are in cpu_fallback/reduce.h. Device
// pointers; `out` is device memory (copy it back when the host needs the value).
#pragma once

#include <cstdint>

#include "kernels/shapes/reduce.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// out[0] = sum_i x[i]
void reduce_sum(const ReduceShape& shape, const float* x, float* out, const Stream& stream);
// out[0] = sum_i x[i]^2
void reduce_sum_squares(const ReduceShape& shape, const float* x, float* out, const Stream& stream);
// out[0] = number of rows whose argmax equals the (non-ignored) label
void count_correct(const AccuracyShape& shape,
                   const float* logits,    // (N, C)
                   const int32_t* labels,  // (N)
                   int32_t* out,           // (1)
                   const Stream& stream);

}  // namespace kiln::gpu
