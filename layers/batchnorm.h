// BatchNorm1d and BatchNorm2d: batch normalisation per channel (Ioffe & Szegedy 2015), PyTorch's
// nn.BatchNorm1d / nn.BatchNorm2d. Spec keys and semantics: layers/layers.h (the index of every
// layer type). Contract and gradient convention (parameter gradients ACCUMULATE +=, input gradients
// are WRITTEN =): layers/layer_interface.h. Kernels: kernels/batchnorm.h.
//
// Training mode normalises with the batch's statistics and updates the running ones (momentum,
// unbiased variance, as PyTorch); evaluation mode (Net::set_training(false)) uses the running
// statistics, or the batch's when track_running_stats = false. Parameters weight (C) = 1 and bias
// (C) = 0 (affine = true); buffers running_mean (C) = 0 and running_var (C) = 1, stored in
// checkpoints under PyTorch's names. Data-parallel training normalises each rank's own samples
// (PyTorch DDP's BatchNorm, not SyncBatchNorm).
#pragma once

#include <string>
#include <vector>

#include "kernels/shapes/batchnorm.h"
#include "layers/layer_interface.h"

namespace kiln::layers {

struct BatchNormOptions {
  int rank = 4;            // of the input: 4 for BatchNorm2d (N, C, H, W); 2 or 3 for BatchNorm1d
  int num_features = 0;    // C; 0: inferred from the input
  float eps = 1e-5f;
  float momentum = 0.1f;
  bool affine = true;
  bool track_running_stats = true;
};

class BatchNorm : public Layer {
 public:
  BatchNorm(std::string name, BatchNormOptions options);
  const char* type() const override { return opt_.rank == 4 ? "BatchNorm2d" : "BatchNorm1d"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  void init_buffers(const Stream& stream) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  size_t saved_bytes() const override { return mean_.nbytes() + invstd_.nbytes(); }
  void release_saved() override;
  std::string describe() const override;

 private:
  BatchNormShape shape_for(const Shape& x) const;
  BatchNormOptions opt_;
  Tensor mean_, invstd_;  // (C) of the last training forward, for backward
};

}  // namespace kiln::layers
