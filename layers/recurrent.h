// Recurrent-network layers: LSTM and RNN (one class, Recurrent). Embedding and TimeFlatten, which
// language models put around them, are in layers/embedding.h and layers/time_flatten.h.
// Contract and gradient convention (parameter gradients ACCUMULATE +=, input gradients are
// WRITTEN =) in layers/layer_interface.h; built from a LayerSpec by the registry
// (layers/registry.cpp).
//
// Spec keys:
//   LSTM, RNN     hidden_size (required), input_size (inferred if absent), num_layers 1,
//                 batch_first true, bias true, bidirectional false, stateful false;
//                 LSTM: forget_bias 0 (added to the forget gate's pre-activation on top of the
//                 biases; 0 is PyTorch's nn.LSTM); RNN: nonlinearity "tanh" | "relu" (nn.RNN's).
//                 Inputs: x (N, T, F) (or (T, N, F) when batch_first = false), and optionally the
//                 initial states: h0 (and c0 for an LSTM), each (num_layers * D, N, H) as in
//                 PyTorch, D = 2 if bidirectional else 1 (LSTM: give both or neither; absent:
//                 zeros). Output: the last layer's h_t for every step, (N, T, D*H) (or (T, N, D*H)),
//                 bidirectional: the forward direction in [0, H), the reverse one in [H, 2H).
//                 The final states are final_h() / final_c(), (num_layers * D, N, H) (the reverse
//                 direction's final state is the one after reading step 0), and the layer's ports
//                 "<name>.h_n" / "<name>.c_n" in a graph (an encoder's feed a decoder's h0/c0;
//                 gradients reaching them flow back into the last step).
//                 Parameters, named and laid out as nn.LSTM / nn.RNN (checkpoints map one to one):
//                 weight_ih_l{k} (G*H, F_k), weight_hh_l{k} (G*H, H), bias_ih_l{k} (G*H),
//                 bias_hh_l{k} (G*H), G = 4 gate blocks i, f, g, o for an LSTM, 1 for an RNN;
//                 the reverse direction's the same with the suffix _reverse; F_k = F for k = 0,
//                 D*H above. All initialised uniform(-1/sqrt(H), 1/sqrt(H)) as PyTorch.
//                 stateful = true: truncated back-propagation through time. Each forward starts
//                 from the final states of the previous one (zeros after reset_state(), at the
//                 first forward, or when the batch size changed) and gradients stop there; the
//                 trainer resets at every epoch and around evaluation, and checkpoints carry the
//                 states. A stateful layer takes no h0/c0 inputs and cannot be bidirectional. Feed it [data] streams = true
//                 (tools/train/data_sources.h), so row n of a batch continues row n of the last.
//
// How the layer computes (the cuDNN design): inside, sequences are time-major (T, N, .), so every
// time step is a contiguous block (batch-first input and output are swapped once at each end,
// kiln::gpu::swap_axes). Per layer and direction: the input projection of ALL steps is one GEMM
// (T*N, F) x W_ih^T into the gate buffer; then per step one recurrent GEMM h_prev W_hh^T and the
// fused cell kernel (kernels/lstm.h, kernels/rnn.h), which adds both projections and both
// biases and applies the gates (LSTM: writes c_t and h_t and leaves the activated gates in place
// for backward; RNN: h_t overwrites its projection). The reverse direction walks the steps from
// T-1 down to 0. The two directions' (T, N, H) outputs are interleaved into (T, N, 2H) by one
// strided copy each. Backward walks each direction's steps in the opposite order: the recurrent
// gradient dA_next W_hh is added into dh_t by a GEMM with beta = 1, the fused backward gives dA_t
// (and dc_prev); then the weight gradients are ONE GEMM each over all steps (dW_ih += dA^T X,
// dW_hh += dA^T H_prev over the steps that have a predecessor, + dA_first^T h0), the biases one
// deterministic column sum each, and dX = sum over directions of dA W_ih, GEMMs that are the
// next lower layer's dh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/layer_interface.h"

namespace kiln::layers {

enum class RecurrentMode : uint8_t { Lstm, RnnTanh, RnnRelu };

struct RecurrentOptions {
  RecurrentMode mode = RecurrentMode::Lstm;
  int input_size = 0;  // 0: inferred from the input
  int hidden_size = 1;
  int num_layers = 1;
  bool batch_first = true;
  bool bias = true;
  bool bidirectional = false;
  bool stateful = false;
  float forget_bias = 0.0f;  // LSTM only
};

class Recurrent : public Layer {
 public:
  Recurrent(std::string name, RecurrentOptions options);
  const char* type() const override { return lstm() ? "LSTM" : "RNN"; }
  int min_inputs() const override { return 1; }
  int max_inputs() const override { return opt_.stateful ? 1 : (lstm() ? 3 : 2); }
  Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const override;
  void setup(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) override;
  void backward(const BackwardArgs& args) override;
  size_t saved_bytes() const override;
  void release_saved() override;
  std::string describe() const override;
  void reset_state() override;
  // Refuses a sharded batch when time-major (batch_first = false): its (T, N, .) tensors put the
  // sample index in dim 1, which the data-parallel split (rows of dim 0) and Dropout's global
  // sample keying do not follow.
  void set_batch_shard(int64_t first_sample, int64_t global_samples) override;
  // Ports "h_n" (and "c_n" for an LSTM): the final states, (num_layers * D, N, H), which a graph can
  // feed to another recurrent layer's h0/c0 (an encoder starting a decoder); their gradients flow
  // back into the last step of each layer and direction.
  std::vector<std::string> ports() const override;
  Shape port_shape(int k, const std::vector<Shape>& inputs) const override;
  const Tensor& port(int k) const override { return k == 0 ? hn_ : cn_; }
  std::map<std::string, const Tensor*> carried_state() const override;
  void set_carried_state(const std::string& key, Tensor value) override;
  const RecurrentOptions& options() const { return opt_; }
  bool lstm() const { return opt_.mode == RecurrentMode::Lstm; }
  int directions() const { return opt_.bidirectional ? 2 : 1; }

  // The states after the last step of the last forward, (num_layers * D, N, H); final_c() is
  // undefined for an RNN.
  const Tensor& final_h() const { return hn_; }
  const Tensor& final_c() const { return cn_; }

 private:
  // What one direction of one layer keeps for backward (time-major).
  struct DirectionSaved {
    Tensor y;      // (T, N, H) h_t of every step
    Tensor c;      // (T, N, H) c_t of every step (LSTM)
    Tensor gates;  // (T, N, 4H) activated gates (LSTM)
  };
  struct LayerSaved {
    Tensor x;  // (T, N, F_l) this layer's input (layer 0: time-major; above: the layer below's out)
    Tensor out;  // (T, N, D*H): y of the one direction (a view), or both interleaved
    std::vector<DirectionSaved> dirs;
  };
  // Initial states of a forward, each (num_layers * D, N, H) or nullptr (zeros).
  struct States {
    const float* h0 = nullptr;
    const float* c0 = nullptr;
  };
  struct StateGrads {
    float* dh0 = nullptr;
    float* dc0 = nullptr;
  };
  // Gradients reaching the final states through the ports, each (num_layers * D, N, H) or nullptr.
  struct FinalGrads {
    const Tensor* dh_n = nullptr;
    const Tensor* dc_n = nullptr;
  };
  void forward_direction(int layer, int dir, const Tensor& x, const States& init, DirectionSaved& s,
                         const Stream& stream);
  // dh (T, N, H): dL/dh_t of this direction, the recurrent part is added into it. Writes dA
  // (T, N, G*H) and accumulates the parameter gradients.
  void backward_direction(int layer, int dir, const LayerSaved& saved, Tensor& dh, const States& init,
                          const StateGrads& dinit, const FinalGrads& dfinal, Tensor& da, const Stream& stream);
  States initial_states(const std::vector<const Tensor*>& inputs) const;
  int gate_blocks() const { return lstm() ? 4 : 1; }
  int per_direction() const { return opt_.bias ? 4 : 2; }
  Parameter& param(int layer, int dir, int which) {
    return params_[static_cast<size_t>((layer * directions() + dir) * per_direction() + which)];
  }

  RecurrentOptions opt_;
  std::vector<LayerSaved> saved_;
  Tensor hn_, cn_;              // final states of the last forward (what a stateful layer carries)
  Tensor start_h_, start_c_;    // the carried states the last training forward started from
};

}  // namespace kiln::layers
