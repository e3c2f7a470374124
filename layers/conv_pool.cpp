// Conv2d, MaxPool2d / AvgPool2d and LRN.
#include <fmt/format.h>

#include <climits>

#include "cpu_fallback/conv2d.h"
#include "cpu_fallback/lrn.h"
#include "cpu_fallback/pool2d.h"
#include "layers/layer.h"
#include "layers/layers.h"
#if KILN_WITH_DEVICE
#include "kernels/conv2d.cuh"
#include "kernels/lrn.cuh"
#include "kernels/pool2d.cuh"
#endif

namespace kiln::layers {

namespace {
// The (N, C, H, W) input of a 4-D layer, or a readable error.
void expect_nchw(const Layer& l, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) {
  if (inputs.size() != 1) layer_error(l, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(l, dtypes);
  const Shape& x = inputs[0];
  if (x.rank() != 4) layer_error(l, fmt::format("expects input (N, C, H, W), got {}", x.str()));
  for (int64_t d : x)
    if (d < 1 || d > INT_MAX) layer_error(l, fmt::format("input {} has a dimension outside [1, 2^31)", x.str()));
}

// Runs a shape struct's validate() and prefixes its message with the layer.
template <class S>
void validate_for(const Layer& l, const S& s) {
  try {
    s.validate();
  } catch (const Error& e) {
    layer_error(l, e.message());
  }
}
}  // namespace

// ---- Conv2d ----

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
  KILN_DISPATCH(x.device(), conv2d_forward, s, x.data<float>(), params_[0].value.data<float>(), bias,
                y.data<float>(), stream);
  return y;
}

void Conv2d::backward(const BackwardArgs& a) {
  const Tensor& x = *a.inputs[0];
  const Tensor& dy = *a.grad_output;
  const Conv2dShape s = shape_for(x.shape());
  const Device d = x.device();
  if (a.grad_inputs[0])
    KILN_DISPATCH(d, conv2d_backward_data, s, dy.data<float>(), params_[0].value.data<float>(),
                  a.grad_inputs[0]->data<float>(), *a.stream);
  KILN_DISPATCH(d, conv2d_backward_filter, s, x.data<float>(), dy.data<float>(), params_[0].grad.data<float>(),
                *a.stream);
  if (opt_.bias) KILN_DISPATCH(d, conv2d_backward_bias, s, dy.data<float>(), params_[1].grad.data<float>(), *a.stream);
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

// ---- MaxPool2d / AvgPool2d ----

Pool2d::Pool2d(std::string name, Kind kind, Pool2dShape window) : Layer(std::move(name)), kind_(kind), window_(window) {}

Pool2dShape Pool2d::shape_for(const Shape& x) const {
  Pool2dShape s = window_;
  s.n = static_cast<int>(x[0]);
  s.c = static_cast<int>(x[1]);
  s.h = static_cast<int>(x[2]);
  s.w = static_cast<int>(x[3]);
  return s;
}

Shape Pool2d::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_nchw(*this, inputs, dtypes);
  const Pool2dShape s = shape_for(inputs[0]);
  validate_for(*this, s);
  return Shape{s.n, s.c, s.p(), s.q()};
}

Tensor Pool2d::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const Pool2dShape s = shape_for(x.shape());
  Tensor y = Tensor::empty(Shape{s.n, s.c, s.p(), s.q()}, x.device());
  if (kind_ == Kind::max) {
    argmax_ = training_ ? Tensor::empty(y.shape(), x.device(), DType::I32) : Tensor();
    int32_t* am = training_ ? argmax_.data<int32_t>() : nullptr;
    KILN_DISPATCH(x.device(), maxpool2d_forward, s, x.data<float>(), y.data<float>(), am, stream);
  } else {
    KILN_DISPATCH(x.device(), avgpool2d_forward, s, x.data<float>(), y.data<float>(), stream);
  }
  return y;
}

void Pool2d::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  Tensor& dx = *a.grad_inputs[0];
  const Tensor& dy = *a.grad_output;
  const Pool2dShape s = shape_for(dx.shape());
  if (kind_ == Kind::max) {
    KILN_CHECK(argmax_.defined(), "layer '{}' (MaxPool2d): backward without a training-mode forward", name());
    KILN_DISPATCH(dx.device(), maxpool2d_backward, s, dy.data<float>(), argmax_.data<int32_t>(), dx.data<float>(),
                  *a.stream);
  } else {
    KILN_DISPATCH(dx.device(), avgpool2d_backward, s, dy.data<float>(), dx.data<float>(), *a.stream);
  }
}

std::string Pool2d::describe() const {
  return fmt::format("{}x{}, stride {}x{}, pad {}x{}", window_.kernel_h, window_.kernel_w, window_.stride_h,
                     window_.stride_w, window_.pad_h, window_.pad_w);
}

// ---- LRN ----

Lrn::Lrn(std::string name, LrnShape params) : Layer(std::move(name)), params_(params) {}

LrnShape Lrn::shape_for(const Shape& x) const {
  LrnShape s = params_;
  s.n = static_cast<int>(x[0]);
  s.c = static_cast<int>(x[1]);
  s.h = static_cast<int>(x[2]);
  s.w = static_cast<int>(x[3]);
  return s;
}

Shape Lrn::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_nchw(*this, inputs, dtypes);
  validate_for(*this, shape_for(inputs[0]));
  return inputs[0];
}

Tensor Lrn::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const LrnShape s = shape_for(x.shape());
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor scale = Tensor::empty(x.shape(), x.device());
  KILN_DISPATCH(x.device(), lrn_forward, s, x.data<float>(), y.data<float>(), scale.data<float>(), stream);
  if (training_) scale_ = std::move(scale);
  return y;
}

void Lrn::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  KILN_CHECK(scale_.defined(), "layer '{}' (LRN): backward without a training-mode forward", name());
  const Tensor& x = *a.inputs[0];
  const LrnShape s = shape_for(x.shape());
  KILN_DISPATCH(x.device(), lrn_backward, s, x.data<float>(), a.output->data<float>(), scale_.data<float>(),
                a.grad_output->data<float>(), a.grad_inputs[0]->data<float>(), *a.stream);
}

std::string Lrn::describe() const {
  return fmt::format("size {}, alpha {}, beta {}, k {}", params_.size, params_.alpha, params_.beta, params_.k);
}

}  // namespace kiln::layers
