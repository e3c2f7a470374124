#include "layers/conv2d.h"

#include <fmt/format.h>

#include "kernels/conv2d.h"
#include "layers/layer.h"

namespace kiln::layers {

Conv2d::Conv2d(std::string name, Conv2dOptions options) : Layer(std::move(name)), opt_(options) {}

Conv2dShape Conv2d::shape_for(const Shape& x) const {
  return Conv2dShape{.n = static_cast<int>(x[0]), .c = static_cast<int>(x[1]), .h = static_cast<int>(x[2]),
                     .w = static_cast<int>(x[3]), .k = opt_.out_channels, .r = opt_.kernel_h, .s = opt_.kernel_w,
                     .stride_h = opt_.stride_h, .stride_w = opt_.stride_w, .pad_h = opt_.pad_h, .pad_w = opt_.pad_w,
                     .dilation_h = opt_.dilation_h, .dilation_w = opt_.dilation_w, .groups = opt_.groups};
}

Shape Conv2d::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_nchw(*this, inputs, dtypes);
  const Shape& x = inputs[0];
  if (opt_.in_channels > 0 && x[1] != opt_.in_channels)
    layer_error(*this, fmt::format("expects input (N, C, H, W) with C={}, got {}", opt_.in_channels, x.str()));
  if (x[1] % opt_.groups != 0)
    layer_error(*this, fmt::format("groups={} does not divide the input's C={} (input {})", opt_.groups, x[1], x.str()));
  const Conv2dShape s = shape_for(x);
  validate_for(*this, s);
  return Shape{s.n, s.k, s.p(), s.q()};
}

void Conv2d::setup(const std::vector<Shape>& inputs, Device device) {
  if (!params_.empty()) return;  // output_shape already checked C against in_channels
  opt_.in_channels = static_cast<int>(inputs[0][1]);
  const int64_t cg = opt_.in_channels / opt_.groups, rs = static_cast<int64_t>(opt_.kernel_h) * opt_.kernel_w;
  Parameter w{.name = "weight",
              .value = Tensor::empty(Shape{opt_.out_channels, cg, opt_.kernel_h, opt_.kernel_w}, device),
              .grad = Tensor::zeros(Shape{opt_.out_channels, cg, opt_.kernel_h, opt_.kernel_w}, device),
              .init = opt_.weight_init,
              .fan_in = cg * rs,
              .fan_out = opt_.out_channels * rs};
  params_.push_back(std::move(w));
  if (opt_.bias) {
    params_.push_back(Parameter{.name = "bias",
                                .value = Tensor::zeros(Shape{opt_.out_channels}, device),
                                .grad = Tensor::zeros(Shape{opt_.out_channels}, device),
                                .init = opt_.bias_init,
                                .fan_in = cg * rs,
                                .fan_out = opt_.out_channels * rs});
  }
}

Tensor Conv2d::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const Conv2dShape s = shape_for(x.shape());
  Tensor y = Tensor::empty(Shape{s.n, s.k, s.p(), s.q()}, x.device());
  const float* bias = opt_.bias ? params_[1].value.data<float>() : nullptr;
  KILN_DISPATCH(x.device(), conv2d_forward_rounded, s, precision_, x.data<float>(), params_[0].value.data<float>(), bias,
                y.data<float>(), stream);
  return y;
}

void Conv2d::backward(const BackwardArgs& a) {
  const Tensor& x = *a.inputs[0];
  const Tensor& dy = *a.grad_output;
  const Conv2dShape s = shape_for(x.shape());
  const Device d = x.device();
  if (a.grad_inputs[0])
    KILN_DISPATCH(d, conv2d_backward_data_rounded, s, precision_, dy.data<float>(), params_[0].value.data<float>(),
                  a.grad_inputs[0]->data<float>(), a.stream);
  KILN_DISPATCH(d, conv2d_backward_filter_rounded, s, precision_, x.data<float>(), dy.data<float>(), params_[0].grad.data<float>(),
                a.stream);
  if (opt_.bias) KILN_DISPATCH(d, conv2d_backward_bias, s, dy.data<float>(), params_[1].grad.data<float>(), a.stream);
}

std::string Conv2d::describe() const {
  std::string out = fmt::format("{}x{}, {} out", opt_.kernel_h, opt_.kernel_w, opt_.out_channels);
  if (opt_.stride_h != 1 || opt_.stride_w != 1) out += fmt::format(", stride {}x{}", opt_.stride_h, opt_.stride_w);
  if (opt_.pad_h != 0 || opt_.pad_w != 0) out += fmt::format(", pad {}x{}", opt_.pad_h, opt_.pad_w);
  if (opt_.dilation_h != 1 || opt_.dilation_w != 1)
    out += fmt::format(", dilation {}x{}", opt_.dilation_h, opt_.dilation_w);
  if (opt_.groups != 1) out += fmt::format(", groups {}", opt_.groups);
  if (!opt_.bias) out += ", no bias";
  return out;
}

}  // namespace kiln::layers
