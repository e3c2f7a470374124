// Flatten: (N, C, H, W) -> (N, C*H*W), zero-copy.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class Flatten : public Layer {
 public:
  Flatten(std::string name, int start_dim);
  const char* type() const override { return "Flatten"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_input(int) const override { return false; }

 private:
  int start_dim_;
};

}  // namespace kiln::layers
