// Where: launchers kernels/conv2d.h (declared once, kernels/conv2d.inc; GPU versions there too);
//        GPU kernels/conv2d.cu (tensor cores: kernels/conv2d_tc.cu, routed by kernels/conv2d_rounded.cu;
//        cuDNN's beside them: kernels/cudnn_conv.{h,cpp}); CPU twin
//        cpu_fallback/conv2d.cpp; layer layers/conv2d.{h,cpp}; parity and bench rows
//        tests/parity/cases_conv2d.cpp (rounded operands: cases_conv2d_rounded.cpp); reference test tests/reference/conv2d_reference_test.cpp;
//        gradcheck tests/gradcheck/op_table_gradcheck_test.cpp (the rows' gradients) and tests/layers/layer_test.cpp.
//
// Conv2dShape: the sizes of one 2-D convolution, shared by kiln::gpu:: and kiln::cpu:: launchers.
//
// Layouts (PyTorch's): x (N, C, H, W), w (K, C/G, R, S) "OIHW", bias (K), y (N, K, P, Q).
//   P = (H + 2*pad_h - dilation_h*(R-1) - 1) / stride_h + 1      (floor)
//   Q = (W + 2*pad_w - dilation_w*(S-1) - 1) / stride_w + 1
//   y[n,k,p,q] = bias[k] + sum_{c in group(k), r, s} x[n, c, p*stride_h - pad_h + r*dilation_h,
//                                                      q*stride_w - pad_w + s*dilation_w] * w[k, c - g*C/G, r, s]
// with out-of-image taps reading 0, and group(k) = channels [g*C/G, (g+1)*C/G) for g = k / (K/G).
//
// Gradient convention (DESIGN principle 4): conv2d_backward_data WRITES dx (=);
// conv2d_backward_filter and conv2d_backward_bias ACCUMULATE into dw and db (+=).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct Conv2dShape {
  int n = 1, c = 1, h = 1, w = 1;  // input (N, C, H, W)
  int k = 1;                       // output channels
  int r = 1, s = 1;                // kernel height and width
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;

  // Output height and width (floor mode, as PyTorch).
  KILN_HD int p() const { return (h + 2 * pad_h - dilation_h * (r - 1) - 1) / stride_h + 1; }
  KILN_HD int q() const { return (w + 2 * pad_w - dilation_w * (s - 1) - 1) / stride_w + 1; }
  KILN_HD int c_per_group() const { return c / groups; }
  KILN_HD int k_per_group() const { return k / groups; }
  // Length of one output's dot product: (C/G)*R*S, the GEMM "K" dimension of the forward pass.
  KILN_HD int64_t crs() const { return static_cast<int64_t>(c / groups) * r * s; }

  KILN_HD int64_t x_size() const { return static_cast<int64_t>(n) * c * h * w; }
  KILN_HD int64_t w_size() const { return static_cast<int64_t>(k) * crs(); }
  KILN_HD int64_t y_size() const { return static_cast<int64_t>(n) * k * p() * q(); }

  // Multiply-adds x2 of the forward pass; backward_data and backward_filter cost the same each.
  int64_t flops() const { return 2 * y_size() * crs(); }
  // Minimum bytes moved by the forward pass (read x and w, write y; bias ignored).
  int64_t bytes() const { return 4 * (x_size() + w_size() + y_size()); }

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1 && h >= 1 && w >= 1,
               "conv2d: input (N, C, H, W) = ({}, {}, {}, {}) must be positive", n, c, h, w);
    KILN_CHECK(k >= 1 && r >= 1 && s >= 1, "conv2d: weight (K, R, S) = ({}, {}, {}) must be positive",
               k, r, s);
    KILN_CHECK(stride_h >= 1 && stride_w >= 1, "conv2d: stride ({}, {}) must be >= 1", stride_h, stride_w);
    KILN_CHECK(pad_h >= 0 && pad_w >= 0, "conv2d: padding ({}, {}) must be >= 0", pad_h, pad_w);
    KILN_CHECK(dilation_h >= 1 && dilation_w >= 1, "conv2d: dilation ({}, {}) must be >= 1", dilation_h,
               dilation_w);
    KILN_CHECK(groups >= 1, "conv2d: groups={} must be >= 1", groups);
    KILN_CHECK(c % groups == 0, "conv2d: groups={} does not divide in_channels={}", groups, c);
    KILN_CHECK(k % groups == 0, "conv2d: groups={} does not divide out_channels={}", groups, k);
    // In 64 bits: a huge dilation or padding must not wrap p() and q() (they compute in int once this passed).
    const int64_t padded_h = h + 2 * int64_t{pad_h}, padded_w = w + 2 * int64_t{pad_w};
    const int64_t span_h = int64_t{dilation_h} * (r - 1) + 1, span_w = int64_t{dilation_w} * (s - 1) + 1;
    KILN_CHECK(padded_h <= INT32_MAX && padded_w <= INT32_MAX, "conv2d: the padded input {}x{} (H, W = {}, {}, "
               "padding {}, {}) is larger than 2^31 - 1", padded_h, padded_w, h, w, pad_h, pad_w);
    KILN_CHECK(padded_h >= span_h && padded_w >= span_w,
               "conv2d: kernel {}x{} (dilation {}x{}) spans {}x{}: larger than the padded input {}x{} (H, W = {}, {}, "
               "padding {}, {})",
               r, s, dilation_h, dilation_w, span_h, span_w, padded_h, padded_w, h, w, pad_h, pad_w);
  }
};

}  // namespace kiln
