// A synthetic source of any shape, for benchmarks and smoke tests: sample i holds uniform [-1, 1)
// values drawn from Philox keyed by (seed, i), the same in every epoch and on every machine, and
// label i mod num_classes (classification) or targets from the same stream (regression).
#pragma once

#include "core/data/dataset.h"

namespace kiln::data {

struct SyntheticOptions {
  int64_t size = 1024;
  Shape sample_shape{3, 32, 32};
  int num_classes = 10;  // classification
  int target_dim = 0;    // > 0: regression with this many targets instead
  uint64_t seed = 0;
};

class SyntheticDataset final : public Dataset {
 public:
  explicit SyntheticDataset(SyntheticOptions options);

  int64_t size() const override { return options_.size; }
  Shape sample_shape() const override { return options_.sample_shape; }
  Task task() const override { return options_.target_dim > 0 ? Task::Regression : Task::Classification; }
  int num_classes() const override { return options_.target_dim > 0 ? 0 : options_.num_classes; }
  int target_dim() const override { return options_.target_dim; }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override;

 private:
  SyntheticOptions options_;
  uint64_t blocks_per_sample_ = 0;
};

}  // namespace kiln::data
