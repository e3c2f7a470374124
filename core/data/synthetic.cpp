#include "core/data/synthetic.h"

#include <fmt/format.h>

#include "core/error.h"

namespace kiln::data {

SyntheticDataset::SyntheticDataset(SyntheticOptions options) : options_(std::move(options)) {
  KILN_CHECK(options_.size > 0, "synthetic data: size {} must be positive", options_.size);
  KILN_CHECK(options_.sample_shape.rank() >= 1 && options_.sample_shape.numel() > 0,
             "synthetic data: sample shape {} must have at least one element", options_.sample_shape.str());
  KILN_CHECK(options_.target_dim > 0 || options_.num_classes > 0,
             "synthetic data: num_classes {} must be positive (or target_dim > 0 for regression)",
             options_.num_classes);
  blocks_per_sample_ = (static_cast<uint64_t>(options_.sample_shape.numel() + options_.target_dim) + 3) / 4;
}

std::string SyntheticDataset::describe() const {
  if (task() == Task::Regression)
    return fmt::format("synthetic: {} x {}, {} targets", options_.size, options_.sample_shape.str(),
                       options_.target_dim);
  return fmt::format("synthetic: {} x {}, {} classes", options_.size, options_.sample_shape.str(),
                     options_.num_classes);
}

void SyntheticDataset::get(int64_t index, const SampleContext&, float* x, int32_t* label, float* target) const {
  KILN_CHECK(index >= 0 && index < options_.size, "sample {} is out of range for {}", index, describe());
  const int64_t n = options_.sample_shape.numel();
  const uint64_t offset = static_cast<uint64_t>(index) * blocks_per_sample_;
  const int64_t total = n + options_.target_dim;
  for (int64_t i = 0; i < total; i += 4) {
    const Philox4x32 r = philox_block(options_.seed, offset, static_cast<uint64_t>(i / 4));
    for (int j = 0; j < 4 && i + j < total; ++j) {
      const float v = uniform_in(r.v[j], -1.0f, 1.0f);
      if (i + j < n) x[i + j] = v;
      else if (target) target[i + j - n] = v;
    }
  }
  if (label && options_.target_dim == 0) *label = static_cast<int32_t>(index % options_.num_classes);
}

}  // namespace kiln::data
