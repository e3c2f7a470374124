#include "layers/linear.h"

#include <fmt/format.h>

#include "kernels/bias.h"
#include "kernels/gemm.h"
#include "layers/layer.h"

namespace kiln::layers {

Linear::Linear(std::string name, LinearOptions options) : Layer(std::move(name)), opt_(options) {}

Shape Linear::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1) layer_error(*this, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& x = inputs[0];
  if (x.rank() != 2)
    layer_error(*this, fmt::format("expects input (N, in_features){}, got {}{}",
                                   opt_.in_features > 0 ? fmt::format(" with in_features={}", opt_.in_features) : "",
                                   x.str(), x.rank() > 2 ? " (put a Flatten layer before it)" : ""));
  if (opt_.in_features > 0 && x[1] != opt_.in_features)
    layer_error(*this, fmt::format("expects input (N, in_features) with in_features={}, got {}", opt_.in_features, x.str()));
  to_int(*this, x[0], "N");
  to_int(*this, x[1], "in_features");
  return Shape{x[0], opt_.out_features};
}

void Linear::setup(const std::vector<Shape>& inputs, Device device) {
  if (!params_.empty()) return;
  opt_.in_features = static_cast<int>(inputs[0][1]);
  params_.push_back(Parameter{.name = "weight",
                              .value = Tensor::empty(Shape{opt_.out_features, opt_.in_features}, device),
                              .grad = Tensor::zeros(Shape{opt_.out_features, opt_.in_features}, device),
                              .init = opt_.weight_init,
                              .fan_in = opt_.in_features,
                              .fan_out = opt_.out_features});
  if (opt_.bias)
    params_.push_back(Parameter{.name = "bias",
                                .value = Tensor::zeros(Shape{opt_.out_features}, device),
                                .grad = Tensor::zeros(Shape{opt_.out_features}, device),
                                .init = opt_.bias_init,
                                .fan_in = opt_.in_features,
                                .fan_out = opt_.out_features});
}

Tensor Linear::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const int n = static_cast<int>(x.dim(0));
  Tensor y = Tensor::empty(Shape{n, opt_.out_features}, x.device());
  const GemmShape g{.m = n, .n = opt_.out_features, .k = opt_.in_features, .trans_b = true};
  KILN_DISPATCH(x.device(), gemm_rounded, g, precision_, x.data<float>(), params_[0].value.data<float>(), y.data<float>(), stream);
  if (opt_.bias) {
    const BiasShape b{.n = n, .c = opt_.out_features, .inner = 1};
    KILN_DISPATCH(x.device(), bias_add, b, params_[1].value.data<float>(), y.data<float>(), stream);
  }
  return y;
}

void Linear::backward(const BackwardArgs& a) {
  const Tensor& x = *a.inputs[0];
  const Tensor& dy = *a.grad_output;  // (N, out)
  const int n = static_cast<int>(x.dim(0));
  const Device d = x.device();
  // dW (out, in) += dy^T (out, N) x (N, in)
  const GemmShape gw{.m = opt_.out_features, .n = opt_.in_features, .k = n, .trans_a = true, .beta = 1.0f};
  KILN_DISPATCH(d, gemm_rounded, gw, precision_, dy.data<float>(), x.data<float>(), params_[0].grad.data<float>(), a.stream);
  if (opt_.bias) {
    const BiasShape b{.n = n, .c = opt_.out_features, .inner = 1};
    KILN_DISPATCH(d, bias_backward, b, dy.data<float>(), params_[1].grad.data<float>(), a.stream);
  }
  if (a.grad_inputs[0]) {
    // dx (N, in) = dy (N, out) W (out, in)
    const GemmShape gx{.m = n, .n = opt_.in_features, .k = opt_.out_features};
    KILN_DISPATCH(d, gemm_rounded, gx, precision_, dy.data<float>(), params_[0].value.data<float>(), a.grad_inputs[0]->data<float>(),
                  a.stream);
  }
}

std::string Linear::describe() const {
  return fmt::format("{} -> {}{}", opt_.in_features, opt_.out_features, opt_.bias ? "" : ", no bias");
}

}  // namespace kiln::layers
