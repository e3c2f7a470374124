// The convolution passes with rounded operands (kernels/conv2d.inc, *_rounded): which GPU version
// runs them, chosen per call from the device's compute capability (read once per device):
//   sm_80+  v3_tc, the tensor-core implicit GEMM (kernels/conv2d_tc.cu);
//   below   no BF16/TF32 tensor cores (kiln's mma kernels need mma.sync m16n8k16 and cp.async;
//           the parity rows reach this path through ScopedComputeMajor), so the two operands are
//           rounded into temporary copies on the stream and the FP32 implicit GEMM (v2) runs on
//           them: the same arithmetic as the tensor cores and the CPU twin (products of rounded
//           operands are exact in FP32), at the cost of one extra pass over each operand.
#include "core/tensor.h"
#include "kernels/compute_capability.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"

namespace kiln::gpu {
namespace {

static bool tensor_cores(const Stream& stream) { return compute_major(stream.device()) >= 8; }

static void forward_v2_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* w,
                               const float* bias, float* y, const Stream& stream) {
  s.validate();
  const Tensor rx = rounded_temporary(p, x, s.x_size(), stream), rw = rounded_temporary(p, w, s.w_size(), stream);
  conv2d_forward_v2(s, rx.data<float>(), rw.data<float>(), bias, y, stream);
}

static void backward_data_v2_rounded(const Conv2dShape& s, MathPrecision p, const float* dy, const float* w,
                                     float* dx, const Stream& stream) {
  s.validate();
  const Tensor rdy = rounded_temporary(p, dy, s.y_size(), stream), rw = rounded_temporary(p, w, s.w_size(), stream);
  conv2d_backward_data_v2(s, rdy.data<float>(), rw.data<float>(), dx, stream);
}

static void backward_filter_v2_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* dy,
                                       float* dw, const Stream& stream) {
  s.validate();
  const Tensor rx = rounded_temporary(p, x, s.x_size(), stream), rdy = rounded_temporary(p, dy, s.y_size(), stream);
  conv2d_backward_filter_v2(s, rx.data<float>(), rdy.data<float>(), dw, stream);
}

}  // namespace

void conv2d_forward_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* w, const float* bias,
                            float* y, const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_forward(s, x, w, bias, y, stream);
  if (tensor_cores(stream)) return conv2d_forward_v3_tc(s, p, x, w, bias, y, stream);
  forward_v2_rounded(s, p, x, w, bias, y, stream);
}

void conv2d_backward_data_rounded(const Conv2dShape& s, MathPrecision p, const float* dy, const float* w, float* dx,
                                  const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_backward_data(s, dy, w, dx, stream);
  if (tensor_cores(stream)) return conv2d_backward_data_v3_tc(s, p, dy, w, dx, stream);
  backward_data_v2_rounded(s, p, dy, w, dx, stream);
}

void conv2d_backward_filter_rounded(const Conv2dShape& s, MathPrecision p, const float* x, const float* dy, float* dw,
                                    const Stream& stream) {
  if (p == MathPrecision::F32) return conv2d_backward_filter(s, x, dy, dw, stream);
  if (tensor_cores(stream)) return conv2d_backward_filter_v3_tc(s, p, x, dy, dw, stream);
  backward_filter_v2_rounded(s, p, x, dy, dw, stream);
}

}  // namespace kiln::gpu
