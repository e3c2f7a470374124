// CPU embedding lookup and backward. Semantics in kernels/shapes/lstm.h (EmbeddingShape); same
// signatures as kernels/embedding.cuh. An id outside [0, V) throws kiln::Error.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "kernels/shapes/lstm.h"

namespace kiln::cpu {

void embedding_forward(const EmbeddingShape& shape, const int32_t* ids, const float* weight, float* y,
                       const Stream& stream);

// dweight[v, :] += sum over i with ids[i] == v of dy[i, :], in increasing i. ACCUMULATES.
void embedding_backward(const EmbeddingShape& shape, const int32_t* ids, const float* dy, float* dweight,
                        const Stream& stream);

}  // namespace kiln::cpu
