#include "layers/lrn.h"

#include <fmt/format.h>

#include "kernels/lrn.h"
#include "layers/layer.h"

namespace kiln::layers {

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
                a.grad_output->data<float>(), a.grad_inputs[0]->data<float>(), a.stream);
}

std::string Lrn::describe() const {
  return fmt::format("size {}, alpha {}, beta {}, k {}", params_.size, params_.alpha, params_.beta, params_.k);
}

}  // namespace kiln::layers
