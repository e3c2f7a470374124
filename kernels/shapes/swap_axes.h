// Where: launchers kernels/swap_axes.h (declared once, kernels/swap_axes.inc); GPU
//        kernels/swap_axes.cu; CPU twin cpu_fallback/swap_axes.cpp; layer layers/recurrent.{h,cpp}
//        (batch-first sequences); parity, bench and gradient rows tests/parity/cases_swap_axes.cpp
//        (gradients checked by tests/gradcheck/op_table_gradcheck_test.cpp); through the layer in
//        tests/recurrent/.
//
// SwapAxesShape: swaps the first two axes of a packed (A, B, inner) tensor.
//
// Layout: x (A, B, inner) -> y (B, A, inner), both packed:
//   y[b, a, :] = x[a, b, :]
// The recurrent layers use it to turn batch-first sequences (N, T, F) into time-major ones
// (T, N, F) and back. y is WRITTEN (=); not in place (y must not overlap x).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct SwapAxesShape {
  int64_t a = 1, b = 1, inner = 1;

  KILN_HD int64_t size() const { return a * b * inner; }
  int64_t flops() const { return 0; }
  int64_t bytes() const { return 8 * size(); }

  void validate() const {
    KILN_CHECK(a >= 1 && b >= 1 && inner >= 1, "swap_axes: (A, B, inner) = ({}, {}, {}) must be positive", a, b,
               inner);
  }
};

}  // namespace kiln
