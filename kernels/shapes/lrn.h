// Where: launchers kernels/lrn.h (declared once, kernels/lrn.inc); GPU kernels/lrn.cu; CPU twin
//        cpu_fallback/lrn.cpp; layer layers/lrn.{h,cpp}; parity and bench rows
//        tests/parity/cases_lrn.cpp; reference test tests/reference/lrn_reference_test.cpp;
//        gradcheck tests/gradcheck/op_table_gradcheck_test.cpp (the rows' gradients) and tests/layers/layer_test.cpp.
//
// LrnShape: local response normalisation across channels (AlexNet), PyTorch's LocalResponseNorm.
//
// Layout: x, y, scale, dy, dx all (N, C, H, W). For channel c the window is
//   W(c) = [c - size/2, c + (size-1)/2] ∩ [0, C)          (integer division; asymmetric for even size)
//   scale[n,c,h,w] = k + (alpha/size) * sum_{c' in W(c)} x[n,c',h,w]^2
//   y = x * scale^-beta
// Backward (dx WRITTEN):
//   dx[c] = dy[c]*scale[c]^-beta - (2*alpha*beta/size) * x[c] * sum_{j : c in W(j)} dy[j]*y[j]/scale[j]
// where c in W(j) <=> j in [c - (size-1)/2, c + size/2].
// AlexNet: size 5, alpha 1e-4, beta 0.75, k 2.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct LrnShape {
  int n = 1, c = 1, h = 1, w = 1;
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 2.0f;

  KILN_HD int64_t x_size() const { return static_cast<int64_t>(n) * c * h * w; }
  KILN_HD int64_t plane() const { return static_cast<int64_t>(h) * w; }
  // Channel window of output channel ch: [lo, hi] inclusive.
  KILN_HD int window_lo(int ch) const { return ch - size / 2 < 0 ? 0 : ch - size / 2; }
  KILN_HD int window_hi(int ch) const { return ch + (size - 1) / 2 >= c ? c - 1 : ch + (size - 1) / 2; }

  int64_t flops() const { return x_size() * (2 * size + 4); }
  int64_t bytes() const { return 4 * 3 * x_size(); }

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1 && h >= 1 && w >= 1,
               "lrn: input (N, C, H, W) = ({}, {}, {}, {}) must be positive", n, c, h, w);
    KILN_CHECK(size >= 1, "lrn: size={} must be >= 1", size);
    KILN_CHECK(k > 0.0f, "lrn: k={} must be > 0", k);
    KILN_CHECK(alpha >= 0.0f, "lrn: alpha={} must be >= 0", alpha);
  }
};

}  // namespace kiln
