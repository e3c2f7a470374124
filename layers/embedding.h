// Embedding: int32 token ids -> rows of a learned (V, D) table.
// Spec keys and semantics: layers/layers.h (the index of every layer type). Contract and gradient
// convention (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =): layers/layer_interface.h.
#pragma once

#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

class Embedding : public Layer {
 public:
  Embedding(std::string name, int num_embeddings, int embedding_dim, Init weight_init);
  const char* type() const override { return "Embedding"; }
  bool input_differentiable(int) const override { return false; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  std::string describe() const override;

 private:
  int v_, d_;
  Init init_;
};

}  // namespace kiln::layers
