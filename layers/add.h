// Add: the sum of 2+ inputs of equal shapes (residual connections).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class Add : public Layer {
 public:
  explicit Add(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Add"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return -1; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
};

}  // namespace kiln::layers
