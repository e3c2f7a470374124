// Where: launchers kernels/pool2d.h (declared once, kernels/pool2d.inc); GPU kernels/pool2d.cu; CPU
//        twin cpu_fallback/pool2d.cpp; layer layers/pool2d.{h,cpp}; parity and bench rows
//        tests/parity/cases_pool2d.cpp; reference test
//        tests/reference/pool2d_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp and tests/layers/layer_test.cpp.
//
// Pool2dShape: 2-D max and average pooling (PyTorch semantics, no dilation).
//
// Layouts: x (N, C, H, W), y (N, C, P, Q), argmax (N, C, P, Q) int32.
//   P = (H + 2*pad_h - kernel_h) / stride_h + 1, Q likewise (floor); pad <= kernel/2 as PyTorch.
//   ceil_mode (PyTorch's, GoogLeNet's pools): the division rounds up, so a last window may hang
//   over the bottom/right edge (it is clipped to the input), but it must start inside the input or
//   its left/top padding: P is one less when (P - 1) * stride_h >= H + pad_h. The average divisor
//   of such a window counts the cells within H + pad_h (as PyTorch).
// Window (p, q) covers rows [p*stride_h - pad_h, p*stride_h - pad_h + kernel_h) and columns
// likewise; overlapping windows (stride < kernel, AlexNet's 3x3 stride 2) are allowed.
//
// Max pooling: padding is -inf (never selected). argmax[n,c,p,q] is the index ih*W + iw of the
// selected element within its input plane; ties go to the first maximum in window order (row-major
// over the window), as PyTorch; a NaN is selected (propagates) as PyTorch does.
// Average pooling: divisor = number of window cells inside the padded input when
// count_include_pad (PyTorch's default), else the number of cells inside the real input.
//
// Backward passes are gathers over the windows covering each input element (no atomics,
// deterministic). Gradient convention: dx is WRITTEN (=).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct Pool2dShape {
  int n = 1, c = 1, h = 1, w = 1;  // input (N, C, H, W)
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // average pooling only
  bool ceil_mode = false;

  // Output size along one axis (see the header comment).
  KILN_HD int out_size(int in, int kernel, int stride, int pad) const {
    const int span = in + 2 * pad - kernel;
    int o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (o - 1) * stride >= in + pad) --o;
    return o;
  }
  KILN_HD int p() const { return out_size(h, kernel_h, stride_h, pad_h); }
  KILN_HD int q() const { return out_size(w, kernel_w, stride_w, pad_w); }
  KILN_HD int64_t x_size() const { return static_cast<int64_t>(n) * c * h * w; }
  KILN_HD int64_t y_size() const { return static_cast<int64_t>(n) * c * p() * q(); }

  // First and one-past-last output row whose window covers input row ih (may be empty).
  KILN_HD int p_begin(int ih) const {
    const int t = ih + pad_h - kernel_h + 1;  // p*stride_h >= t
    return t <= 0 ? 0 : (t + stride_h - 1) / stride_h;
  }
  KILN_HD int p_end(int ih) const {
    const int e = (ih + pad_h) / stride_h + 1;
    return e < p() ? e : p();
  }
  KILN_HD int q_begin(int iw) const {
    const int t = iw + pad_w - kernel_w + 1;
    return t <= 0 ? 0 : (t + stride_w - 1) / stride_w;
  }
  KILN_HD int q_end(int iw) const {
    const int e = (iw + pad_w) / stride_w + 1;
    return e < q() ? e : q();
  }
  // Average-pooling divisor of window (p, q).
  KILN_HD int avg_divisor(int op, int oq) const {
    int h0 = op * stride_h - pad_h, w0 = oq * stride_w - pad_w;
    int h1 = h0 + kernel_h, w1 = w0 + kernel_w;
    if (h1 > h + pad_h) h1 = h + pad_h;
    if (w1 > w + pad_w) w1 = w + pad_w;
    if (count_include_pad) return (h1 - h0) * (w1 - w0);
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > h) h1 = h;
    if (w1 > w) w1 = w;
    return (h1 - h0) * (w1 - w0);
  }

  // One compare (max) or add (avg) per window cell.
  int64_t flops() const { return y_size() * kernel_h * kernel_w; }
  int64_t bytes() const { return 4 * (x_size() + y_size()); }

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1 && h >= 1 && w >= 1,
               "pool2d: input (N, C, H, W) = ({}, {}, {}, {}) must be positive", n, c, h, w);
    KILN_CHECK(kernel_h >= 1 && kernel_w >= 1, "pool2d: kernel {}x{} must be positive", kernel_h, kernel_w);
    KILN_CHECK(stride_h >= 1 && stride_w >= 1, "pool2d: stride ({}, {}) must be >= 1", stride_h, stride_w);
    KILN_CHECK(pad_h >= 0 && pad_w >= 0 && 2 * pad_h <= kernel_h && 2 * pad_w <= kernel_w,
               "pool2d: padding ({}, {}) must be >= 0 and at most half the kernel {}x{}", pad_h, pad_w,
               kernel_h, kernel_w);
    const int64_t padded_h = h + 2 * int64_t{pad_h}, padded_w = w + 2 * int64_t{pad_w};  // no int wrap
    KILN_CHECK(padded_h <= INT32_MAX && padded_w <= INT32_MAX, "pool2d: the padded input {}x{} is larger than "
               "2^31 - 1", padded_h, padded_w);
    KILN_CHECK(padded_h >= kernel_h && padded_w >= kernel_w,
               "pool2d: kernel {}x{} is larger than the padded input {}x{}", kernel_h, kernel_w, padded_h, padded_w);
    KILN_CHECK(static_cast<int64_t>(h) * w <= INT32_MAX, "pool2d: plane {}x{} too large for int32 argmax", h, w);
  }
};

}  // namespace kiln
