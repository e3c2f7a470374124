#include "layers/activation.h"

#include <fmt/format.h>

#include "kernels/activation.h"
#include "layers/layer.h"

namespace kiln::layers {

ActivationLayer::ActivationLayer(std::string name, Activation kind, float param)
    : Layer(std::move(name)), kind_(kind), param_(param) {
  try {
    ActivationShape{.count = 0, .kind = kind, .param = param}.validate();
  } catch (const Error& e) {
    layer_error(*this, e.message());
  }
}

const char* ActivationLayer::type() const {
  switch (kind_) {
    case Activation::Relu: return "ReLU";
    case Activation::LeakyRelu: return "LeakyReLU";
    case Activation::Elu: return "ELU";
    case Activation::Sigmoid: return "Sigmoid";
    case Activation::Tanh: return "Tanh";
  }
  return "Activation";
}

Shape ActivationLayer::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_one_float(*this, inputs, dtypes);
  return inputs[0];
}

Tensor ActivationLayer::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  Tensor y = Tensor::empty(x.shape(), x.device());
  const ActivationShape s{.count = x.numel(), .kind = kind_, .param = param_};
  KILN_DISPATCH(x.device(), activation_forward, s, x.data<float>(), y.data<float>(), stream);
  return y;
}

void ActivationLayer::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  const Tensor& y = *a.output;
  const ActivationShape s{.count = y.numel(), .kind = kind_, .param = param_};
  KILN_DISPATCH(y.device(), activation_backward, s, y.data<float>(), a.grad_output->data<float>(),
                a.grad_inputs[0]->data<float>(), a.stream);
}

std::string ActivationLayer::describe() const {
  if (kind_ == Activation::LeakyRelu) return fmt::format("negative_slope {}", param_);
  if (kind_ == Activation::Elu) return fmt::format("alpha {}", param_);
  return "";
}

}  // namespace kiln::layers
