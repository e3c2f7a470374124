// Where: launchers kernels/rnn.h (declared once, kernels/rnn.inc); GPU kernels/rnn.cu; CPU twin
//        cpu_fallback/rnn.cpp; layer layers/recurrent.{h,cpp} (RNN); parity and bench rows
//        tests/parity/cases_rnn.cpp; reference test tests/reference/rnn_reference_test.cpp;
//        gradcheck tests/gradcheck/op_table_gradcheck_test.cpp (the rows' gradients); layer gradchecks and PyTorch goldens
//        tests/recurrent/.
//
// Shape and math of the plain (Elman) RNN cell, the pointwise part of PyTorch's nn.RNN.
//
// ---- RnnCellShape: h_t = act(x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) ----
// The RNN layer (layers/recurrent.*) computes the two projections with GEMMs (the input one for
// all time steps at once); this op does what is left of a step in one pass.
// Layouts (row-major, one row per batch element, rows `x_stride` apart for `xg`, packed otherwise):
//   xg      (N, H) rows x_stride >= H apart    x W_ih^T, the input projection of this step
//   hg      (N, H) or nullptr (= 0)            h_{t-1} W_hh^T, the recurrent projection
//   b_ih, b_hh (H) or nullptr (= 0)            the two biases (kept apart, as nn.RNN)
//   h       (N, H)                             h_t
// Forward:   h = act(a),  a = ((xg + hg) + b_ih) + b_hh   (summed in this order on both devices)
//            act = tanh or relu (nn.RNN's nonlinearity='tanh' | 'relu')
// Backward, from dh = dL/dh_t (everything arriving at h_t: the output's gradient plus the next
// step's recurrent one):
//   da = dh * act'(a), computed from the OUTPUT h: tanh 1 - h^2, relu [h > 0]
// (the math of kernels/shapes/activation.h, so at the kink a = 0 relu's derivative is 0, as
// PyTorch's). da (N, H) is the gradient of the pre-activation, hence of xg, hg and both biases
// alike: the layer turns it into dx, dh_{t-1}, dW and db with GEMMs and a column sum.
// In place: h may alias a packed xg (x_stride = 0 or H) in forward, da may alias dh in backward
// (each element is read, then written, by the same thread).
// Gradient convention: da is WRITTEN (=).
#pragma once

#include <climits>
#include <cstdint>

#include "core/error.h"
#include "core/hd.h"
#include "kernels/shapes/activation.h"

namespace kiln {

enum class RnnActivation : uint8_t { Tanh, Relu };

// The elementwise activation that computes it (activation_apply / activation_grad_from_y).
KILN_HD Activation rnn_activation_kind(RnnActivation a) {
  return a == RnnActivation::Relu ? Activation::Relu : Activation::Tanh;
}

struct RnnCellShape {
  int n = 1;             // batch rows
  int h = 1;             // hidden size H
  int64_t x_stride = 0;  // elements between rows of xg; 0 means packed (H)
  RnnActivation activation = RnnActivation::Tanh;

  KILN_HD int64_t xg_stride() const { return x_stride > 0 ? x_stride : h; }
  KILN_HD int64_t cells() const { return static_cast<int64_t>(n) * h; }
  // Forward with every operand present: three adds and the activation per cell; reads xg, hg and
  // the biases, writes h.
  int64_t flops() const { return 4 * cells(); }
  int64_t bytes() const { return 4 * (3 * cells() + 2 * static_cast<int64_t>(h)); }
  // Backward: one multiply (and the derivative) per cell; reads h and dh, writes da.
  int64_t backward_flops() const { return 2 * cells(); }
  int64_t backward_bytes() const { return 4 * 3 * cells(); }

  void validate() const {
    KILN_CHECK(n >= 1 && h >= 1, "rnn_cell: (N, H) = ({}, {}) must be positive", n, h);
    KILN_CHECK(x_stride == 0 || x_stride >= h, "rnn_cell: x_stride={} must be 0 or >= H={}", x_stride, h);
    KILN_CHECK(activation == RnnActivation::Tanh || activation == RnnActivation::Relu,
               "rnn_cell: unknown activation {}", static_cast<int>(activation));
    // The kernels index cells with 32-bit integers.
    KILN_CHECK(cells() <= INT_MAX, "rnn_cell: N*H = {}*{} cells exceed the kernels' 32-bit indexing", n, h);
  }
};

}  // namespace kiln
