// Where: launchers kernels/lstm.h (declared once, kernels/lstm.inc); GPU kernels/lstm.cu; CPU twin
//        cpu_fallback/lstm.cpp; layer layers/recurrent.{h,cpp} (LSTM); parity and bench rows
//        tests/parity/cases_lstm.cpp (its gradient rows checked by
//        tests/gradcheck/op_table_gradcheck_test.cpp); cell math, device finite differences and
//        PyTorch goldens tests/recurrent/lstm_test.cpp.
//
// LstmCellShape: the fused pointwise LSTM cell (PyTorch gate order i, f, g, o). The LSTM layer
// (layers/recurrent.*) computes the projections with GEMMs; this op does what is left of a step.
//
// Layouts (row-major, one row per batch element, rows `x_stride` apart for `xg`, packed otherwise):
//   xg      (N, 4H) rows x_stride >= 4H apart   x W_ih^T, the input projection of this step
//   hg      (N, 4H) or nullptr (= 0)            h_{t-1} W_hh^T, the recurrent projection
//   b_ih, b_hh (4H) or nullptr (= 0)            the two biases (kept apart, as nn.LSTM)
//   c_prev  (N, H) or nullptr (= 0)             c_{t-1}
//   gates   (N, 4H)                             the ACTIVATED gates [i f g o], kept for backward
//   c, h    (N, H)                              c_t, h_t
// Forward, with a = xg + hg + b_ih + b_hh (+ forget_bias on the f block):
//   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
//   c = f * c_prev + i * g                      h = o * tanh(c)
// Backward, from dh = dL/dh_t and dc = dL/dc_t arriving from later steps (either may be nullptr = 0):
//   dc_tot = dc + dh * o * (1 - tanh(c)^2)
//   da_i = dc_tot * g * i (1 - i)   da_f = dc_tot * c_prev * f (1 - f)
//   da_g = dc_tot * i * (1 - g^2)   da_o = dh * tanh(c) * o (1 - o)
//   dc_prev = dc_tot * f
// da (N, 4H) is the gradient of the pre-activations, hence of xg, hg and both biases alike.
// In place: gates may alias a packed xg (x_stride = 4H) in forward; da may alias gates and dc_prev
// may alias dc in backward (each element is read, then written, by the same thread).
// Gradient convention: da and dc_prev are WRITTEN (=).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

KILN_HD float lstm_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

struct LstmCellShape {
  int n = 1;              // batch rows
  int h = 1;              // hidden size H
  int64_t x_stride = 0;   // elements between rows of xg; 0 means packed (4H)
  float forget_bias = 0;  // added to the forget gate's pre-activation (forward only)

  KILN_HD int64_t gate_cols() const { return 4 * static_cast<int64_t>(h); }
  KILN_HD int64_t xg_stride() const { return x_stride > 0 ? x_stride : gate_cols(); }
  KILN_HD int64_t cells() const { return static_cast<int64_t>(n) * h; }
  int64_t flops() const { return 20 * cells(); }
  int64_t bytes() const { return 4 * (2 * 4 * cells() + 4 * cells() + 3 * cells()); }

  void validate() const {
    KILN_CHECK(n >= 1 && h >= 1, "lstm_cell: (N, H) = ({}, {}) must be positive", n, h);
    KILN_CHECK(x_stride == 0 || x_stride >= gate_cols(), "lstm_cell: x_stride={} must be 0 or >= 4H={}", x_stride,
               gate_cols());
  }
};

}  // namespace kiln
