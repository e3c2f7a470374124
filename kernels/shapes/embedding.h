// Where: launchers kernels/embedding.h (declared once, kernels/embedding.inc); GPU
//        kernels/embedding.cu; CPU twin cpu_fallback/embedding.cpp; layer layers/embedding.{h,cpp};
//        parity, bench and gradient rows tests/parity/cases_embedding.cpp (gradients checked by
//        tests/gradcheck/op_table_gradcheck_test.cpp); op tests
//        tests/recurrent/embedding_test.cpp; layer lookup, gradcheck and bit-exact backward
//        tests/recurrent/lstm_test.cpp.
//
// EmbeddingShape: lookup of n token ids in a (V, D) table (PyTorch's nn.Embedding).
//
// Layouts: ids (n) int32, weight and dweight (V, D), y and dy (n, D), all packed.
//   forward   y[i, :] = weight[ids[i], :]                    (y WRITTEN)
//   backward  dweight[v, :] += sum_{i: ids[i] = v} dy[i, :]   (ACCUMULATES, a parameter gradient)
//             summed from 0 in increasing i for every v, then added to dweight once, so the result
//             is deterministic and the same bits on both devices (the same sums in the same order).
// An id outside [0, V) is never read from the table: its row of y is NaN (the quiet NaN 0x7fc00000)
// and it contributes to no row of dweight, on both devices alike. Neither op throws for it: on the
// GPU the ids are device memory, and stopping would need a sync. The Embedding layer checks ids the
// host can read and names the bad one (layers/embedding.cpp); on a GPU the NaN reaches the loss.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct EmbeddingShape {
  int64_t n = 1;  // tokens
  int v = 1;      // vocabulary rows
  int d = 1;      // embedding width

  KILN_HD int64_t out_size() const { return n * d; }
  KILN_HD int64_t table_size() const { return static_cast<int64_t>(v) * d; }
  int64_t flops() const { return out_size(); }
  int64_t bytes() const { return 4 * (2 * out_size() + n); }

  void validate() const {
    KILN_CHECK(n >= 0 && v >= 1 && d >= 1, "embedding: n={} tokens, table (V, D) = ({}, {}) must be positive", n, v,
               d);
  }
};

}  // namespace kiln
