// MaxPool2d, AvgPool2d and AdaptiveAvgPool2d (one class, Pool2d). AdaptiveAvgPool2d (global average
// pooling at output_size 1) averages each of output_size x output_size equal cells of the input:
// an average pooling whose kernel and stride are H / output_h, W / output_w, chosen per input
// (PyTorch's cells, when they divide the input evenly; uneven cells are refused, naming the sizes).
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
  // AdaptiveAvgPool2d to (output_h, output_w).
  Pool2d(std::string name, int output_h, int output_w);
  const char* type() const override {
    return kind_ == Kind::Max ? "MaxPool2d" : adaptive_h_ > 0 ? "AdaptiveAvgPool2d" : "AvgPool2d";
  }
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
  int adaptive_h_ = 0, adaptive_w_ = 0;  // > 0: AdaptiveAvgPool2d's output size
  Tensor argmax_;  // (N, C, P, Q) int32, max pooling in training
};

}  // namespace kiln::layers
