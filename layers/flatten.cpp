#include "layers/flatten.h"

#include <fmt/format.h>

#include "layers/layer.h"

namespace kiln::layers {

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
