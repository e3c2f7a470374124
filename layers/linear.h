// Linear: y (N, out) = x (N, in) W^T + b.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

struct LinearOptions {
  int in_features = 0;  // 0: inferred from the input
  int out_features = 1;
  bool bias = true;
  Init weight_init, bias_init;
};

class Linear : public Layer {
 public:
  Linear(std::string name, LinearOptions options);
  const char* type() const override { return "Linear"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  std::string describe() const override;

 private:
  LinearOptions opt_;
};

}  // namespace kiln::layers
