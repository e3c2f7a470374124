// kiln::data::ReconstructionDataset: targets equal to the input, for autoencoders ([data] target =
// "input", tools/train/data_sources.h).
//
// It wraps an image or feature-vector dataset and serves its samples as regression data: the input
// x as the base gives it, and as the float targets (target_dim() = the sample's numel, the
// flattened (C*H*W) input, the shape of an MLP decoder's Linear(C*H*W) output) the same values
// before the per-channel normalisation: image targets are the pixels in [0, 1] (what a Sigmoid
// output can reach) even when the input is mean/std normalised. Without normalisation the targets
// are the input values exactly; with it they are x * std + mean clamped to [0, 1], the pixels up
// to float rounding. A CSV's features (standardised or not) are their own targets, exactly.
#pragma once

#include <memory>
#include <string>

#include "core/data/dataset.h"

namespace kiln::data {

class ReconstructionDataset final : public Dataset {
 public:
  // `normalize`: the normalisation `base` applies to its pixels (undone for the targets); empty:
  // none (targets = inputs). `pixels`: image data, the targets clamped to [0, 1].
  ReconstructionDataset(std::shared_ptr<const Dataset> base, Normalize normalize, bool pixels);

  int64_t size() const override { return base_->size(); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  Task task() const override { return Task::Regression; }
  int num_classes() const override { return 0; }
  int target_dim() const override { return static_cast<int>(base_->sample_shape().numel()); }
  std::string describe() const override { return base_->describe() + ", targets = the input"; }
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float* target) const override;

  const Dataset& base() const { return *base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<float> scale_, shift_;  // per channel: target = x * scale + shift (empty: a copy)
  bool pixels_;
};

}  // namespace kiln::data
