#include "layers/dropout.h"

#include <fmt/format.h>

#include "kernels/dropout.h"
#include "layers/layer.h"

namespace kiln::layers {

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
  KILN_DISPATCH(dy.device(), dropout_backward, s, dy.data<float>(), a.grad_inputs[0]->data<float>(), a.stream);
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

}  // namespace kiln::layers
