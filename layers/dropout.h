// Dropout: inverted dropout with Philox masks.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

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

}  // namespace kiln::layers
