#include "layers/add.h"

#include <fmt/format.h>

#include "layers/layer.h"

namespace kiln::layers {

Shape Add::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() < 2) layer_error(*this, fmt::format("expects 2 or more inputs, got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!(inputs[i] == inputs[0]))
      layer_error(*this, fmt::format("expects inputs of the same shape, got {} (input 0) and {} (input {})",
                                     inputs[0].str(), inputs[i].str(), i));
  return inputs[0];
}

Tensor Add::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  Tensor y = Tensor::empty(inputs[0]->shape(), inputs[0]->device());
  y.copy_from(*inputs[0], stream);
  for (size_t i = 1; i < inputs.size(); ++i) graph::add_into(y, *inputs[i], stream);
  return y;
}

void Add::backward(const BackwardArgs& a) {
  for (Tensor* dx : a.grad_inputs)
    if (dx) dx->copy_from(*a.grad_output, a.stream);
}

}  // namespace kiln::layers
