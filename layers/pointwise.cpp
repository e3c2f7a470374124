// Activations, Dropout and Flatten.
#include <fmt/format.h>

#include "cpu_fallback/activation.h"
#include "cpu_fallback/dropout.h"
#include "layers/layer.h"
#include "layers/layers.h"
#if KILN_WITH_DEVICE
#include "kernels/activation.cuh"
#include "kernels/dropout.cuh"
#endif

namespace kiln::layers {

namespace {
void expect_one_float(const Layer& l, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) {
  if (inputs.size() != 1) layer_error(l, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(l, dtypes);
}
}  // namespace

// ---- activations ----

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
    case Activation::relu: return "ReLU";
    case Activation::leaky_relu: return "LeakyReLU";
    case Activation::elu: return "ELU";
    case Activation::sigmoid: return "Sigmoid";
    case Activation::tanh: return "Tanh";
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
                a.grad_inputs[0]->data<float>(), *a.stream);
}

std::string ActivationLayer::describe() const {
  if (kind_ == Activation::leaky_relu) return fmt::format("negative_slope {}", param_);
  if (kind_ == Activation::elu) return fmt::format("alpha {}", param_);
  return "";
}

// ---- Dropout ----

Dropout::Dropout(std::string name, float p, bool has_seed, uint64_t seed)
    : Layer(std::move(name)), p_(p), fixed_seed_(has_seed), seed_(seed) {
  if (!(p >= 0.0f && p < 1.0f)) layer_error(*this, fmt::format("p={} must be in [0, 1)", p));
}

Shape Dropout::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_one_float(*this, inputs, dtypes);
  return inputs[0];
}

Tensor Dropout::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  if (!training_) return x.view();  // inference: the identity, zero-copy
  Tensor y = Tensor::empty(x.shape(), x.device());
  const DropoutShape s{.count = x.numel(), .p = p_, .seed = seed_, .offset = offset_};
  KILN_DISPATCH(x.device(), dropout_forward, s, x.data<float>(), y.data<float>(), stream);
  used_offset_ = offset_;
  offset_ += s.blocks_used();
  return y;
}

void Dropout::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  const Tensor& dy = *a.grad_output;
  const DropoutShape s{.count = dy.numel(), .p = p_, .seed = seed_, .offset = used_offset_};
  KILN_DISPATCH(dy.device(), dropout_backward, s, dy.data<float>(), a.grad_inputs[0]->data<float>(), *a.stream);
}

void Dropout::set_seed(uint64_t seed) {
  if (!fixed_seed_) seed_ = seed;
  offset_ = 0;
}

std::map<std::string, uint64_t> Dropout::rng_state() const { return {{"seed", seed_}, {"offset", offset_}}; }

void Dropout::set_rng_state(const std::map<std::string, uint64_t>& state) {
  for (const auto& [key, value] : state) {
    if (key == "seed") seed_ = value;
    else if (key == "offset") offset_ = value;
    else layer_error(*this, fmt::format("unknown random state '{}' (known: offset, seed)", key));
  }
}

std::string Dropout::describe() const { return fmt::format("p {}", p_); }

// ---- Flatten ----

Flatten::Flatten(std::string name, int start_dim) : Layer(std::move(name)), start_dim_(start_dim) {}

Shape Flatten::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_one_float(*this, inputs, dtypes);
  const Shape& x = inputs[0];
  if (start_dim_ >= x.rank())
    layer_error(*this, fmt::format("start_dim={} needs an input of rank > {}, got {}", start_dim_, start_dim_, x.str()));
  Shape out;
  for (int a = 0; a < start_dim_; ++a) out.push_back(x[a]);
  int64_t rest = 1;
  for (int a = start_dim_; a < x.rank(); ++a) rest *= x[a];
  out.push_back(rest);
  return out;
}

Tensor Flatten::forward(const std::vector<const Tensor*>& inputs, const Stream&) {
  const Tensor& x = *inputs[0];
  return x.reshape(output_shape({x.shape()}, {x.dtype()}));
}

void Flatten::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  a.grad_inputs[0]->copy_from(*a.grad_output, a.stream);
}

}  // namespace kiln::layers
