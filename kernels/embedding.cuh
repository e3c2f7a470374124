// GPU embedding lookup and its deterministic backward. Semantics in kernels/shapes/lstm.h
// (EmbeddingShape); the CPU twins are in cpu_fallback/embedding.h. Pointers are device memory.
#pragma once

#include <cstdint>

#include "kernels/shapes/lstm.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// y[i, :] = weight[ids[i], :]; an id outside [0, V) gives a NaN row. WRITTEN.
void embedding_forward(const EmbeddingShape& shape,
                       const int32_t* ids,    // (n)
                       const float* weight,   // (V, D)
                       float* y,              // (n, D)
                       const Stream& stream);

// dweight[v, :] += sum over i with ids[i] == v of dy[i, :], in increasing i. ACCUMULATES.
void embedding_backward(const EmbeddingShape& shape,
                        const int32_t* ids,  // (n)
                        const float* dy,     // (n, D)
                        float* dweight,      // (V, D)
                        const Stream& stream);

}  // namespace kiln::gpu
