// Linear, SoftmaxCrossEntropy and MSELoss.
#include <fmt/format.h>

#include <climits>

#include "cpu_fallback/bias.h"
#include "cpu_fallback/gemm.h"
#include "cpu_fallback/softmax_xent.h"
#include "layers/layer.h"
#include "layers/layers.h"
#if KILN_WITH_DEVICE
#include "kernels/bias.cuh"
#include "kernels/gemm.cuh"
#include "kernels/softmax_xent.cuh"
#endif

namespace kiln::layers {

namespace {
int to_int(const Layer& l, int64_t v, const char* what) {
  if (v < 1 || v > INT_MAX) layer_error(l, fmt::format("{}={} is outside [1, 2^31)", what, v));
  return static_cast<int>(v);
}
}  // namespace

// ---- Linear: y (N, out) = x (N, in) W^T + b ----

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
  KILN_DISPATCH(x.device(), gemm, g, x.data<float>(), params_[0].value.data<float>(), y.data<float>(), stream);
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
  KILN_DISPATCH(d, gemm, gw, dy.data<float>(), x.data<float>(), params_[0].grad.data<float>(), *a.stream);
  if (opt_.bias) {
    const BiasShape b{.n = n, .c = opt_.out_features, .inner = 1};
    KILN_DISPATCH(d, bias_backward, b, dy.data<float>(), params_[1].grad.data<float>(), *a.stream);
  }
  if (a.grad_inputs[0]) {
    // dx (N, in) = dy (N, out) W (out, in)
    const GemmShape gx{.m = n, .n = opt_.in_features, .k = opt_.out_features};
    KILN_DISPATCH(d, gemm, gx, dy.data<float>(), params_[0].value.data<float>(), a.grad_inputs[0]->data<float>(),
                  *a.stream);
  }
}

std::string Linear::describe() const {
  return fmt::format("{} -> {}{}", opt_.in_features, opt_.out_features, opt_.bias ? "" : ", no bias");
}

// ---- SoftmaxCrossEntropy ----

SoftmaxCrossEntropy::SoftmaxCrossEntropy(std::string name, int32_t ignore_label, float loss_weight)
    : Layer(std::move(name)), ignore_label_(ignore_label), loss_weight_(loss_weight) {}

Shape SoftmaxCrossEntropy::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 2) layer_error(*this, fmt::format("expects 2 inputs (logits, labels), got {}", inputs.size()));
  check_dtypes(*this, dtypes, {1});
  const Shape &x = inputs[0], &t = inputs[1];
  if (x.rank() != 2) layer_error(*this, fmt::format("expects logits (N, C), got {}", x.str()));
  if (t.rank() != 1 || t[0] != x[0])
    layer_error(*this, fmt::format("expects labels (N) with N={} to match the logits {}, got {}", x[0], x.str(), t.str()));
  to_int(*this, x[0], "N");
  to_int(*this, x[1], "C");
  return Shape{1};
}

Tensor SoftmaxCrossEntropy::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &x = *inputs[0], &t = *inputs[1];
  const SoftmaxXentShape s{.n = static_cast<int>(x.dim(0)), .c = static_cast<int>(x.dim(1)), .ignore_label = ignore_label_};
  Tensor loss = Tensor::empty(Shape{1}, x.device());
  try {
    KILN_DISPATCH(x.device(), softmax_xent_forward, s, x.data<float>(), t.data<int32_t>(), nullptr, loss.data<float>(),
                  stream);
  } catch (const Error& e) {
    layer_error(*this, e.message());
  }
  return loss;
}

void SoftmaxCrossEntropy::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  const Tensor &x = *a.inputs[0], &t = *a.inputs[1];
  const SoftmaxXentShape s{.n = static_cast<int>(x.dim(0)), .c = static_cast<int>(x.dim(1)), .ignore_label = ignore_label_};
  KILN_DISPATCH(x.device(), softmax_xent_backward, s, x.data<float>(), t.data<int32_t>(), a.loss_scale,
                a.grad_inputs[0]->data<float>(), *a.stream);
}

// ---- MSELoss: loss = mean((prediction - target)^2) ----
// Built from GEMMs with a (1) tensor holding 1.0 (`one_`), so it needs no kernel of its own:
//   diff = prediction - target         gemm 1 x count x 1: diff = -1 * one * target + 1 * diff
//   loss = diff . diff / count         gemm 1 x 1 x count
//   dprediction = 2 * scale / count * diff,  dtarget = -dprediction   (gemm 1 x count x 1, beta 0)

MseLoss::MseLoss(std::string name, float loss_weight) : Layer(std::move(name)), loss_weight_(loss_weight) {}

Shape MseLoss::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 2) layer_error(*this, fmt::format("expects 2 inputs (prediction, target), got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  if (!(inputs[0] == inputs[1]))
    layer_error(*this, fmt::format("expects prediction and target of the same shape, got {} and {}", inputs[0].str(),
                                   inputs[1].str()));
  to_int(*this, inputs[0].numel(), "element count");
  return Shape{1};
}

void MseLoss::setup(const std::vector<Shape>&, Device device) {
  if (!one_.defined() || one_.device() != device) {
    const float one = 1.0f;
    one_ = Tensor::from_host(std::span<const float>(&one, 1), Shape{1}, device);
  }
}

Tensor MseLoss::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &x = *inputs[0], &t = *inputs[1];
  const int count = static_cast<int>(x.numel());
  const Device d = x.device();
  Tensor diff = x.clone();
  const GemmShape sub{.m = 1, .n = count, .k = 1, .alpha = -1.0f, .beta = 1.0f};
  KILN_DISPATCH(d, gemm, sub, one_.data<float>(), t.data<float>(), diff.data<float>(), stream);
  Tensor loss = Tensor::empty(Shape{1}, d);
  const GemmShape dot{.m = 1, .n = 1, .k = count, .alpha = 1.0f / static_cast<float>(count)};
  KILN_DISPATCH(d, gemm, dot, diff.data<float>(), diff.data<float>(), loss.data<float>(), stream);
  if (training_) diff_ = std::move(diff);
  return loss;
}

void MseLoss::backward(const BackwardArgs& a) {
  KILN_CHECK(diff_.defined(), "layer '{}' (MSELoss): backward without a training-mode forward", name());
  const int count = static_cast<int>(diff_.numel());
  const float g = 2.0f * a.loss_scale / static_cast<float>(count);
  for (int i = 0; i < 2; ++i) {
    if (!a.grad_inputs[static_cast<size_t>(i)]) continue;
    const GemmShape s{.m = 1, .n = count, .k = 1, .alpha = i == 0 ? g : -g};
    KILN_DISPATCH(diff_.device(), gemm, s, one_.data<float>(), diff_.data<float>(),
                  a.grad_inputs[static_cast<size_t>(i)]->data<float>(), *a.stream);
  }
}

}  // namespace kiln::layers
