// ReLU, LeakyReLU, ELU, Sigmoid and Tanh (one class, ActivationLayer).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"
#include "kernels/shapes/activation.h"

namespace kiln::layers {

class ActivationLayer : public Layer {
 public:
  ActivationLayer(std::string name, Activation kind, float param);
  const char* type() const override;
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_input(int) const override { return false; }
  bool backward_needs_output() const override { return true; }  // f' is computed from y
  std::string describe() const override;

 private:
  Activation kind_;
  float param_;
};

}  // namespace kiln::layers
