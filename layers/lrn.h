// LRN: local response normalisation across channels (AlexNet 2012).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"
#include "kernels/shapes/lrn.h"

namespace kiln::layers {

class Lrn : public Layer {
 public:
  Lrn(std::string name, LrnShape params);  // size, alpha, beta, k
  const char* type() const override { return "LRN"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_output() const override { return true; }
  size_t saved_bytes() const override { return scale_.defined() ? scale_.nbytes() : 0; }
  void release_saved() override { scale_ = Tensor(); }
  std::string describe() const override;

 private:
  LrnShape shape_for(const Shape& x) const;
  LrnShape params_;
  Tensor scale_;  // (N, C, H, W) kept for backward
};

}  // namespace kiln::layers
