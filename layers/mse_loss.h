// MSELoss: mean squared error.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class MseLoss : public Layer {
 public:
  MseLoss(std::string name, float loss_weight);
  const char* type() const override { return "MSELoss"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  float loss_weight() const override { return loss_weight_; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  size_t saved_bytes() const override { return diff_.defined() ? diff_.nbytes() : 0; }
  void release_saved() override { diff_ = Tensor(); }

 private:
  float loss_weight_;
  Tensor one_;   // (1) holding 1.0 on the layer's device: the scalar operand of the GEMMs
  Tensor diff_;  // prediction - target, kept for backward
};

}  // namespace kiln::layers
