// Where: launchers kernels/softmax_xent.h (declared once, kernels/softmax_xent.inc); GPU
//        kernels/softmax_xent.cu; CPU twin cpu_fallback/softmax_xent.cpp; layer
//        layers/softmax_xent.{h,cpp}; parity and bench rows tests/parity/cases_softmax_xent.cpp;
//        reference test tests/reference/softmax_xent_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp and tests/layers/layer_test.cpp.
//
// SoftmaxXentShape: fused softmax + cross-entropy over class logits with integer labels.
//
// Layouts: logits (N, C), labels (N) int32, row_loss (N), mean_loss (1), dlogits (N, C).
//   row_loss[i] = logsumexp(logits[i, :]) - logits[i, labels[i]]   (0 for an ignored row)
//   count       = number of rows with labels[i] != ignore_label
//   mean_loss   = sum_i row_loss[i] / count   (0 when count == 0; PyTorch gives NaN there)
//   dlogits[i,j] = (softmax(logits[i])_j - [j == labels[i]]) * dloss / count; 0 for ignored rows
// Stable for any finite logits (the row maximum is subtracted before exp). A label outside
// [0, C) that is not ignore_label is an error. Gradient convention: dlogits is WRITTEN (=).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct SoftmaxXentShape {
  int n = 1;  // rows (batch)
  int c = 1;  // classes
  int32_t ignore_label = -100;

  KILN_HD int64_t size() const { return static_cast<int64_t>(n) * c; }
  // max, subtract, exp, sum, log per element (forward); backward about the same.
  int64_t flops() const { return 5 * size(); }
  int64_t bytes() const { return 4 * (size() + 2 * static_cast<int64_t>(n)); }

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1, "softmax_xent: logits (N, C) = ({}, {}) must be positive", n, c);
  }
};

}  // namespace kiln
