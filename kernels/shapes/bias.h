// Where: launchers kernels/bias.h (declared once, kernels/bias.inc); GPU kernels/bias.cu; CPU twin
//        cpu_fallback/bias.cpp; layers layers/linear.{h,cpp} and layers/recurrent.{h,cpp};
//        graph::add_into (layers/tensor_ops.{h,cpp}: the Add layer, layers/add.cpp, and gradient
//        sums in layers/net.cpp); parity and bench rows tests/parity/cases_bias.cpp;
//        reference test tests/reference/bias_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp.
//
// BiasShape: a per-channel bias over y (N, C, inner): inner = H*W for NCHW activations, 1 for
// (N, F) features.
//   bias_add:      y[n, c, i] += bias[c]            (in place)
//   bias_backward: db[c] += sum_{n, i} dy[n, c, i]   (ACCUMULATES, a parameter gradient)
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct BiasShape {
  int n = 1;          // batch
  int c = 1;          // channels / features
  int64_t inner = 1;  // H*W, or 1

  KILN_HD int64_t size() const { return static_cast<int64_t>(n) * c * inner; }
  int64_t flops() const { return size(); }
  int64_t bytes() const { return 4 * (2 * size() + c); }

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1 && inner >= 1, "bias: (N, C, inner) = ({}, {}, {}) must be positive", n, c,
               inner);
  }
};

}  // namespace kiln
