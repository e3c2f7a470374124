// L1Loss (mean absolute error) and HuberLoss (squared near 0, absolute beyond `delta`), as
// PyTorch's nn.L1Loss and nn.HuberLoss with reduction "mean": the regression losses besides
// MSELoss (layers/mse_loss.h). Both here because they share their construction (below).
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class AbsoluteLoss : public Layer {
 public:
  enum class Kind : uint8_t { L1, Huber };
  // delta: HuberLoss's threshold (> 0); unused by L1Loss.
  AbsoluteLoss(std::string name, Kind kind, float delta, float loss_weight);
  const char* type() const override { return kind_ == Kind::L1 ? "L1Loss" : "HuberLoss"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  float loss_weight() const override { return loss_weight_; }
  bool backward_needs_input(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  std::string describe() const override;
  size_t saved_bytes() const override { return slope_.defined() ? slope_.nbytes() : 0; }
  void release_saved() override { slope_ = Tensor(); }

 private:
  Kind kind_;
  float delta_, loss_weight_;
  Tensor one_;    // (1) holding 1.0: the scalar operand of the GEMMs
  Tensor ones_;   // (count) of 1.0, for sums and constant shifts (remade when the count changes)
  Tensor slope_;  // d loss_i / d prediction_i (before the 1/count): sign(d) or clamp(d, ±delta); for backward
};

}  // namespace kiln::layers
