// Dropout: inverted dropout with Philox masks.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/shapes/dropout.h"
#include "layers/layer_interface.h"

namespace kiln::layers {

// Inverted dropout with Philox masks: the mask of a forward call is drawn from (seed, offset) and
// the offset then advances by the Philox blocks used, so successive steps differ, the CPU and the
// GPU draw the same masks, and a run resumed with rng_state() continues exactly.
//
// Data-parallel (set_batch_shard): this process holds samples [first, first + N) of a global batch
// of G. The mask of element e of the local input is the one element first * per_sample + e of the
// global input gets, per_sample = numel / N, and the offset advances by the GLOBAL draw, so masks
// do not depend on how the batch is split. This needs the sample index to be the outermost one:
// the global input is the concatenation of the local ones. Layouts a Dropout can see (layers/*.h,
// models/*.toml): (N, ...) images and features; (N, T) ids -> Embedding (N, T, E); batch-first
// LSTM/RNN (N, T, H); TimeFlatten (N*T, H) rows sample-major: all sample-major (dim 0 is N, or N*k
// rows sample by sample). The one time-major layout, a recurrent layer with batch_first = false
// ((T, N, H)), refuses to be sharded (Recurrent::set_batch_shard). N comes from the Net
// (set_local_samples: the first input's dim 0); used alone, the layer takes its input's dim 0.
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
  void set_batch_shard(int64_t first_sample, int64_t global_samples) override;
  void set_local_samples(int64_t samples) override { local_samples_ = samples; }
  std::string describe() const override;
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }

 private:
  float p_;
  bool fixed_seed_;
  uint64_t seed_, offset_ = 0;
  int64_t first_sample_ = 0, global_samples_ = 0, local_samples_ = 0;  // set_batch_shard
  DropoutShape draw(int64_t numel, int64_t dim0) const;  // the draw of a forward's input
  DropoutShape used_;  // the last training forward's draw (its backward's mask)
};

}  // namespace kiln::layers
