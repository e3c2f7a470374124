// Conv2d: 2-D convolution (groups, stride, padding, dilation), PyTorch layout.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"
#include "kernels/shapes/conv2d.h"

namespace kiln::layers {

struct Conv2dOptions {
  int in_channels = 0;  // 0: inferred from the first input
  int out_channels = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  bool bias = true;
  Init weight_init, bias_init;
};

class Conv2d : public Layer {
 public:
  Conv2d(std::string name, Conv2dOptions options);
  const char* type() const override { return "Conv2d"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  std::string describe() const override;
  const Conv2dOptions& options() const { return opt_; }

 private:
  Conv2dShape shape_for(const Shape& x) const;
  Conv2dOptions opt_;
};

}  // namespace kiln::layers
