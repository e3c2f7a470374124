#include "layers/time_flatten.h"

#include <fmt/format.h>

#include "layers/layer.h"

namespace kiln::layers {

Shape TimeFlatten::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1) layer_error(*this, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& x = inputs[0];
  if (x.rank() < 2) layer_error(*this, fmt::format("expects an input of rank >= 2 (N, T, ...), got {}", x.str()));
  Shape out{x[0] * x[1]};
  for (int i = 2; i < x.rank(); ++i) out.push_back(x[i]);
  return out;
}

Tensor TimeFlatten::forward(const std::vector<const Tensor*>& inputs, const Stream&) {
  const Tensor& x = *inputs[0];
  return x.reshape(output_shape({x.shape()}, {x.dtype()}));
}

void TimeFlatten::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  a.grad_inputs[0]->copy_from(*a.grad_output, a.stream);
}

}  // namespace kiln::layers
