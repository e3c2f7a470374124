// BCELoss: binary cross-entropy of probabilities (a Sigmoid's output) against targets in [0, 1], as
// PyTorch's nn.BCELoss with reduction "mean" (logs clamped at -100): the autoencoders' loss on
// pixels. The terms and their slopes are the bce kernel's (kernels/shapes/bce.h).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class BceLoss : public Layer {
 public:
  BceLoss(std::string name, float loss_weight);
  const char* type() const override { return "BCELoss"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  float loss_weight() const override { return loss_weight_; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  size_t saved_bytes() const override { return (dp_.defined() ? dp_.nbytes() : 0) + (dt_.defined() ? dt_.nbytes() : 0); }
  void release_saved() override {
    dp_ = Tensor();
    dt_ = Tensor();
  }

 private:
  float loss_weight_;
  Tensor one_;       // (1) holding 1.0: the scalar operand of the GEMMs
  Tensor ones_;      // (count) of 1.0, for the sum of the terms (remade when the count changes)
  Tensor dp_, dt_;   // the terms' slopes in prediction and target (before the 1/count), for backward
};

}  // namespace kiln::layers
