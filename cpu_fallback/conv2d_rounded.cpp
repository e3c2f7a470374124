// CPU convolution with rounded operands: round copies of the two operands of the pass, then the
// FP32 pass (cpu_fallback/conv2d.cpp). Products of rounded operands are exact in FP32, so this is
// the tensor cores' arithmetic up to the order of the FP32 sums.
#include <vector>

#include "cpu_fallback/rounded_copy.h"
#include "kernels/conv2d.h"

namespace kiln::cpu {

void conv2d_forward_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* w, const float* bias,
                            float* y, const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_forward(s, x, w, bias, y, stream);
  s.validate();
  const std::vector<float> rx = detail::rounded_copy(p, x, s.x_size()), rw = detail::rounded_copy(p, w, s.w_size());
  conv2d_forward(s, rx.data(), rw.data(), bias, y, stream);
}

void conv2d_backward_data_rounded(const Conv2dShape& s, MathPrecision p, const float* dy, const float* w, float* dx,
                                  const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_backward_data(s, dy, w, dx, stream);
  s.validate();
  const std::vector<float> rdy = detail::rounded_copy(p, dy, s.y_size()), rw = detail::rounded_copy(p, w, s.w_size());
  conv2d_backward_data(s, rdy.data(), rw.data(), dx, stream);
}

void conv2d_backward_filter_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* dy, float* dw,
                                    const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_backward_filter(s, x, dy, dw, stream);
  s.validate();
  const std::vector<float> rx = detail::rounded_copy(p, x, s.x_size()), rdy = detail::rounded_copy(p, dy, s.y_size());
  conv2d_backward_filter(s, rx.data(), rdy.data(), dw, stream);
}

}  // namespace kiln::cpu
