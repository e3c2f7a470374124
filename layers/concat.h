// Concat: 2+ inputs joined along axis 1 (channels).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class Concat : public Layer {
 public:
  explicit Concat(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Concat"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return -1; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;

 private:
  std::vector<int64_t> channels_;  // elements per row (C_i * inner) of each input, from the last forward
};

}  // namespace kiln::layers
