// Where: launchers kernels/gru.h (declared once, kernels/gru.inc); GPU kernels/gru.cu; CPU twin
//        cpu_fallback/gru.cpp; layer layers/recurrent.{h,cpp} (GRU); parity and bench rows
//        tests/parity/cases_gru.cpp (their gradients checked by
//        tests/gradcheck/op_table_gradcheck_test.cpp); cell math, device finite differences, layer
//        gradchecks tests/recurrent/gru_test.cpp; PyTorch goldens tests/recurrent/lstm_test.cpp.
//
// GruCellShape: the fused pointwise GRU cell, PyTorch's nn.GRU (gate order r, z, n; b_hn inside
// the reset product). The GRU layer computes the projections with GEMMs; this op does the rest.
//
// Layouts (row-major, one row per batch element, rows `x_stride` apart for `xg`, packed otherwise):
//   xg      (N, 3H) rows x_stride >= 3H apart   x W_ih^T, the input projection of this step
//   hg      (N, 3H) or nullptr (= 0)            h_{t-1} W_hh^T, the recurrent projection
//   b_ih, b_hh (3H) or nullptr (= 0)            the two biases (kept apart, as nn.GRU)
//   h_prev  (N, H) or nullptr (= 0)             h_{t-1}
//   gates   (N, 3H)                             the ACTIVATED gates [r z n], kept for backward
//   hn      (N, H)                              hg_n + b_hn, kept for backward (r multiplies it)
//   h       (N, H)                              h_t
// Forward (sums in this order on both devices):
//   r = sigmoid((xg_r + b_ir) + (hg_r + b_hr))   z = sigmoid((xg_z + b_iz) + (hg_z + b_hz))
//   hn = hg_n + b_hn                             n = tanh((xg_n + b_in) + r * hn)
//   h = (1 - z) * n + z * h_prev
// Backward, from dh = dL/dh_t (the output's gradient plus h_{t+1}'s recurrent GEMM part) and
// dh_carry = the direct part z_{t+1} * dL/dh_{t+1} (either may be nullptr = 0):
//   g = dh + dh_carry
//   da_n = g (1 - z) (1 - n^2)    da_z = g (h_prev - n) z (1 - z)    da_r = da_n hn r (1 - r)
//   da_x = [da_r, da_z, da_n]       the gradient of xg and b_ih
//   da_h = [da_r, da_z, da_n * r]   the gradient of hg and b_hh (the layer's dh_{t-1} += da_h W_hh)
//   dh_prev = g * z                 the direct part, the next (earlier) step's dh_carry
// The two blocks differ in n only: b_hn sits inside the reset product, b_in outside.
// In place: gates may alias a packed xg (x_stride = 3H) in forward; dh_prev may alias dh_carry in
// backward (each element is read, then written, by the same thread).
// Gradient convention: da_x, da_h and dh_prev are WRITTEN (=).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

KILN_HD float gru_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

struct GruCellShape {
  int n = 1;             // batch rows
  int h = 1;             // hidden size H
  int64_t x_stride = 0;  // elements between rows of xg; 0 means packed (3H)

  KILN_HD int64_t gate_cols() const { return 3 * static_cast<int64_t>(h); }
  KILN_HD int64_t xg_stride() const { return x_stride > 0 ? x_stride : gate_cols(); }
  KILN_HD int64_t cells() const { return static_cast<int64_t>(n) * h; }
  // Forward with every operand present, per cell: 3 gates of sums, exps and products (~ 25 flops);
  // reads xg, hg (3 each) and h_prev, writes gates (3), hn and h.
  int64_t flops() const { return 25 * cells(); }
  int64_t bytes() const { return 4 * (7 * cells() + 5 * cells() + 2 * gate_cols()); }
  // Backward: reads gates (3), hn, h_prev, dh, dh_carry; writes da_x, da_h (3 each), dh_prev.
  int64_t backward_flops() const { return 20 * cells(); }
  int64_t backward_bytes() const { return 4 * (7 * cells() + 7 * cells()); }

  void validate() const {
    KILN_CHECK(n >= 1 && h >= 1, "gru_cell: (N, H) = ({}, {}) must be positive", n, h);
    KILN_CHECK(x_stride == 0 || x_stride >= gate_cols(), "gru_cell: x_stride={} must be 0 or >= 3H={}", x_stride,
               gate_cols());
  }
};

}  // namespace kiln
