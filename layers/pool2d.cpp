#include "layers/pool2d.h"

#include <fmt/format.h>

#include "kernels/pool2d.h"
#include "layers/layer.h"

namespace kiln::layers {

Pool2d::Pool2d(std::string name, Kind kind, Pool2dShape window) : Layer(std::move(name)), kind_(kind), window_(window) {}

Pool2d::Pool2d(std::string name, int output_h, int output_w)
    : Layer(std::move(name)), kind_(Kind::Avg), adaptive_h_(output_h), adaptive_w_(output_w) {}

Pool2dShape Pool2d::shape_for(const Shape& x) const {
  Pool2dShape s = window_;
  s.n = static_cast<int>(x[0]);
  s.c = static_cast<int>(x[1]);
  s.h = static_cast<int>(x[2]);
  s.w = static_cast<int>(x[3]);
  if (adaptive_h_ > 0) {
    if (s.h % adaptive_h_ != 0 || s.w % adaptive_w_ != 0)
      layer_error(*this, fmt::format("output_size {}x{} does not divide the input {}x{} into equal cells (only even "
                                     "cells are supported)", adaptive_h_, adaptive_w_, s.h, s.w));
    s.kernel_h = s.stride_h = s.h / adaptive_h_;
    s.kernel_w = s.stride_w = s.w / adaptive_w_;
  }
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
  if (kind_ == Kind::Max) {
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
  if (kind_ == Kind::Max) {
    KILN_CHECK(argmax_.defined(), "layer '{}' (MaxPool2d): backward without a training-mode forward", name());
    KILN_DISPATCH(dx.device(), maxpool2d_backward, s, dy.data<float>(), argmax_.data<int32_t>(), dx.data<float>(),
                  a.stream);
  } else {
    KILN_DISPATCH(dx.device(), avgpool2d_backward, s, dy.data<float>(), dx.data<float>(), a.stream);
  }
}

std::string Pool2d::describe() const {
  if (adaptive_h_ > 0) return fmt::format("to {}x{}", adaptive_h_, adaptive_w_);
  return fmt::format("{}x{}, stride {}x{}, pad {}x{}{}", window_.kernel_h, window_.kernel_w, window_.stride_h,
                     window_.stride_w, window_.pad_h, window_.pad_w, window_.ceil_mode ? ", ceil mode" : "");
}

}  // namespace kiln::layers
