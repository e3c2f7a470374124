// MaxPool2d and AvgPool2d (one class, Pool2d).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"
#include "kernels/shapes/pool2d.h"

namespace kiln::layers {

class Pool2d : public Layer {
 public:
  enum class Kind { Max, Avg };
  Pool2d(std::string name, Kind kind, Pool2dShape window);  // window: kernel, stride, pad, count_include_pad
  const char* type() const override { return kind_ == Kind::Max ? "MaxPool2d" : "AvgPool2d"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_input(int) const override { return false; }
  size_t saved_bytes() const override { return argmax_.defined() ? argmax_.nbytes() : 0; }
  void release_saved() override { argmax_ = Tensor(); }
  std::string describe() const override;

 private:
  Pool2dShape shape_for(const Shape& x) const;
  Kind kind_;
  Pool2dShape window_;
  Tensor argmax_;  // (N, C, P, Q) int32, max pooling in training
};

}  // namespace kiln::layers
