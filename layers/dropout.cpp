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

DropoutShape Dropout::draw(int64_t numel, int64_t dim0) const {
  DropoutShape s{.count = numel, .p = p_, .seed = seed_, .offset = offset_, .first = 0, .global_count = 0};
  if (global_samples_ == 0) return s;
  const int64_t n = local_samples_ > 0 ? local_samples_ : dim0;
  // The global input must be the concatenation of the local ones (see layers/dropout.h).
  if (n <= 0 || dim0 % n != 0 || first_sample_ + n > global_samples_)
    layer_error(*this, fmt::format("sharded batch: input dim 0 = {} is not a multiple of the {} local samples, or "
                                   "samples [{}, {}) exceed the global batch of {}",
                                   dim0, n, first_sample_, first_sample_ + n, global_samples_));
  const int64_t per_sample = numel / n;
  s.first = static_cast<uint64_t>(first_sample_ * per_sample);
  s.global_count = global_samples_ * per_sample;
  return s;
}

Tensor Dropout::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  if (!training_) return x.view();  // inference: the identity, zero-copy
  Tensor y = Tensor::empty(x.shape(), x.device());
  const DropoutShape s = draw(x.numel(), x.shape().rank() > 0 ? x.shape()[0] : 1);
  KILN_DISPATCH(x.device(), dropout_forward, s, x.data<float>(), y.data<float>(), stream);
  used_ = s;
  offset_ += s.blocks_used();  // the global draw's blocks: every rank advances alike
  return y;
}

void Dropout::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  const Tensor& dy = *a.grad_output;
  KILN_CHECK(dy.numel() == used_.count, "layer '{}': backward of {} elements after a forward of {}", name(),
             dy.numel(), used_.count);
  KILN_DISPATCH(dy.device(), dropout_backward, used_, dy.data<float>(), a.grad_inputs[0]->data<float>(), a.stream);
}

void Dropout::set_batch_shard(int64_t first_sample, int64_t global_samples) {
  if (global_samples < 0 || first_sample < 0 || (global_samples == 0 && first_sample != 0) ||
      (global_samples > 0 && first_sample >= global_samples))
    layer_error(*this, fmt::format("set_batch_shard: first sample {} of a global batch of {}", first_sample,
                                   global_samples));
  first_sample_ = first_sample;
  global_samples_ = global_samples;
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
