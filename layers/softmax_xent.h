// SoftmaxCrossEntropy: the fused softmax + cross-entropy loss over (N, C) logits.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class SoftmaxCrossEntropy : public Layer {
 public:
  SoftmaxCrossEntropy(std::string name, int32_t ignore_label, float loss_weight);
  const char* type() const override { return "SoftmaxCrossEntropy"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  float loss_weight() const override { return loss_weight_; }
  bool input_differentiable(int i) const override { return i == 0; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;

 private:
  int32_t ignore_label_;
  float loss_weight_;
};

}  // namespace kiln::layers
