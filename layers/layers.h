// kiln's layers. Each one is a kiln::Layer (contract and gradient convention in
// core/graph/layer_interface.h: parameter gradients ACCUMULATE +=, input gradients are WRITTEN =),
// runs kiln::cpu:: ops on CPU tensors and kiln::gpu:: ops on CUDA tensors, and is built from a
// LayerSpec by the registry (layers/registry.h). Parameters use PyTorch's names and layouts.
//
// Spec keys (all optional unless marked required):
//   Conv2d             out_channels (required), kernel (required; int or [kh, kw]), in_channels
//                      (inferred from the input if absent), stride 1, pad 0, dilation 1, groups 1,
//                      bias true, weight_init/_value, bias_init/_value (default pytorch_default).
//                      weight (K, C/G, R, S), bias (K).
//   MaxPool2d          kernel (required), stride (= kernel), pad 0.
//   AvgPool2d          kernel (required), stride (= kernel), pad 0, count_include_pad true.
//   LRN                size 5, alpha 1e-4, beta 0.75, k 1 (PyTorch's LocalResponseNorm; AlexNet k=2).
//   ReLU, Sigmoid, Tanh; LeakyReLU negative_slope 0.01; ELU alpha 1.
//   Dropout            p 0.5, seed (default: derived from the net's seed and the layer's name).
//   Flatten            start_dim 1: (N, C, H, W) -> (N, C*H*W), zero-copy.
//   Linear             out_features (required), in_features (inferred if absent), bias true,
//                      weight_init/_value, bias_init/_value. weight (out, in), bias (out).
//   SoftmaxCrossEntropy  inputs (logits (N, C), labels (N) int32); ignore_label -100,
//                      loss_weight 1. Output: the mean loss over non-ignored rows, shape (1).
//   MSELoss            inputs (prediction, target) of equal shapes; loss_weight 1. Output (1):
//                      mean of squared differences.
//   Add                2+ inputs of equal shapes, summed (residual connections).
//   Concat             2+ inputs concatenated along axis 1 (channels); other dims equal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph/layer_interface.h"
#include "kernels/shapes/activation.h"
#include "kernels/shapes/conv2d.h"
#include "kernels/shapes/lrn.h"
#include "kernels/shapes/pool2d.h"

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

class Pool2d : public Layer {
 public:
  enum class Kind { max, avg };
  Pool2d(std::string name, Kind kind, Pool2dShape window);  // window: kernel, stride, pad, count_include_pad
  const char* type() const override { return kind_ == Kind::max ? "MaxPool2d" : "AvgPool2d"; }
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

// Inverted dropout with Philox masks: the mask of a forward call is drawn from (seed, offset) and
// the offset then advances by the Philox blocks used, so successive steps differ, the CPU and the
// GPU draw the same masks, and a run resumed with rng_state() continues exactly.
class Dropout : public Layer {
 public:
  Dropout(std::string name, float p, bool has_seed, uint64_t seed);
  const char* type() const override { return "Dropout"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_input(int) const override { return false; }
  void set_seed(uint64_t seed) override;
  std::map<std::string, uint64_t> rng_state() const override;
  void set_rng_state(const std::map<std::string, uint64_t>& state) override;
  std::string describe() const override;
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }

 private:
  float p_;
  bool fixed_seed_;
  uint64_t seed_, offset_ = 0;
  uint64_t used_offset_ = 0;  // offset of the last training forward (its backward's mask)
};

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

class Add : public Layer {
 public:
  explicit Add(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Add"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return -1; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
};

class Concat : public Layer {
 public:
  explicit Concat(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Concat"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return -1; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;

 private:
  std::vector<int64_t> channels_;  // elements per row (C_i * inner) of each input, from the last forward
};

}  // namespace kiln::layers
