// CPU reductions with double accumulation. Semantics in kernels/shapes/reduce.h.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/reduce.h"

namespace kiln::cpu {

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

}  // namespace kiln::cpu
