// Recurrent-network layers: LSTM, Embedding and TimeFlatten. Contract and gradient convention
// (parameter gradients ACCUMULATE +=, input gradients are WRITTEN =) in
// core/graph/layer_interface.h; built from a LayerSpec by the registry (layers/registry.cpp).
//
// Spec keys:
//   LSTM          hidden_size (required), input_size (inferred if absent), num_layers 1,
//                 batch_first true, bias true, forget_bias 0 (added to the forget gate's
//                 pre-activation on top of the biases; 0 is PyTorch's nn.LSTM).
//                 Inputs: x (N, T, F) (or (T, N, F) when batch_first = false), and optionally
//                 h0 and c0, both (num_layers, N, H) as nn.LSTM (give both or neither; absent:
//                 zeros). Output: the last layer's h_t for every step, (N, T, H) (or (T, N, H)).
//                 The final states are final_h() / final_c(), (num_layers, N, H).
//                 Parameters, named and laid out as nn.LSTM (so checkpoints map one to one):
//                 weight_ih_l{k} (4H, F_k), weight_hh_l{k} (4H, H), bias_ih_l{k} (4H),
//                 bias_hh_l{k} (4H), gate blocks in the order i, f, g, o; all initialised
//                 uniform(-1/sqrt(H), 1/sqrt(H)) as nn.LSTM (pytorch_default with fan_in = H).
//   Embedding     num_embeddings (required), embedding_dim (required), weight_init (default
//                 normal with std 1, nn.Embedding's). Input: int32 ids of any shape S; output
//                 S + (D). Parameter weight (V, D). Ids are not differentiable.
//   TimeFlatten   (A, B, ...) -> (A*B, ...), zero-copy: turns the LSTM's (N, T, H) output into the
//                 (N*T, H) rows a Linear and SoftmaxCrossEntropy take (labels then come as (N*T)).
//
// How the LSTM computes (the cuDNN design): inside, sequences are time-major (T, N, .), so every
// time step is a contiguous block (batch-first input and output are swapped once at each end,
// kiln::gpu::swap_axes). Per layer: the input projection of ALL steps is one GEMM
// (T*N, F) x W_ih^T into the gate buffer; then per step one recurrent GEMM h_{t-1} W_hh^T and the
// fused cell kernel (kernels/lstm.cuh), which adds both projections and both biases, applies the
// gates and writes c_t and h_t, leaving the activated gates in place for backward. Backward walks
// the steps in reverse: the recurrent gradient dA_{t+1} W_hh is added into dh_t by a GEMM with
// beta = 1, the fused backward gives dA_t and dc_{t-1}; then the weight gradients are ONE GEMM
// each over all steps (dW_ih += dA^T X, dW_hh += dA[1:]^T H[:-1] (+ dA_0^T h0)), the biases one
// deterministic column sum each, and dX = dA W_ih one GEMM, which is the next lower layer's dh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph/layer_interface.h"

namespace kiln::layers {

struct LstmOptions {
  int input_size = 0;  // 0: inferred from the input
  int hidden_size = 1;
  int num_layers = 1;
  bool batch_first = true;
  bool bias = true;
  float forget_bias = 0.0f;
};

class Lstm : public Layer {
 public:
  Lstm(std::string name, LstmOptions options);
  const char* type() const override { return "LSTM"; }
  int min_inputs() const override { return 1; }
  int max_inputs() const override { return 3; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  size_t saved_bytes() const override;
  void release_saved() override;
  std::string describe() const override;
  const LstmOptions& options() const { return opt_; }

  // The states after the last step of the last forward, (num_layers, N, H).
  const Tensor& final_h() const { return hn_; }
  const Tensor& final_c() const { return cn_; }

 private:
  struct Saved {
    Tensor x;      // (T, N, F_l) this layer's input, time-major (layer 0: the swapped input)
    Tensor y;      // (T, N, H) h_t of every step
    Tensor c;      // (T, N, H) c_t of every step
    Tensor gates;  // (T, N, 4H) activated gates
  };
  const Tensor& weight(int layer, int which) const { return params_[static_cast<size_t>(layer * per_layer() + which)].value; }
  Tensor& grad(int layer, int which) { return params_[static_cast<size_t>(layer * per_layer() + which)].grad; }
  int per_layer() const { return opt_.bias ? 4 : 2; }

  LstmOptions opt_;
  std::vector<Saved> saved_;
  Tensor hn_, cn_;
};

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

class TimeFlatten : public Layer {
 public:
  explicit TimeFlatten(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "TimeFlatten"; }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  bool backward_needs_input(int) const override { return false; }
};

}  // namespace kiln::layers
