// kiln::Layer: the contract between the graph (kiln::Net, layers/net.h) and a layer
// (the concrete classes live in layers/, the registry in layers/registry.h).
//
// Life of a layer inside a Net:
//   1. output_shape(input shapes)  shape inference; throws kiln::Error with a readable message
//                                  ("layer 'conv2': expects input (N, C, H, W) with C=3, got
//                                  (8, 1, 28, 28)") on a wrong arity, rank, size or dtype.
//   2. setup(input shapes, device) creates the parameters (once; later calls only check them).
//   3. forward(inputs) -> output   one output tensor per layer, named after the layer.
//   4. backward(args)              reads what the layer said it needs (backward_needs_input /
//                                  backward_needs_output, plus state it saved itself in forward).
//
// GRADIENT CONVENTION (DESIGN principle 4), the one place it is stated for every layer:
//   * parameter gradients ACCUMULATE:  Parameter::grad += dL/dparam   (zero them with zero_grad);
//   * input gradients are WRITTEN:     *grad_inputs[i]  = dL/dinput_i (old contents ignored).
// The Net sums the gradients of a tensor consumed by several layers itself.
//
// Devices: a layer runs kiln::cpu:: ops on CPU tensors and kiln::gpu:: ops on CUDA tensors,
// chosen by the tensor's device and nothing else; there is no global mode and no fallback.
//
// Training flag: set_training(false) (inference) makes forward keep no state for backward
// (no max-pool argmax, no dropout mask) and Dropout the identity.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/shapes/precision.h"

namespace kiln {

// How a parameter is initialised (layers/init.h applies it through Philox).
enum class InitKind {
  PytorchDefault,  // uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch.nn.Conv2d/Linear's default
  KaimingNormal,   // normal(0, gain/sqrt(fan_in)), gain = value (default sqrt(2), ReLU)
  KaimingUniform,  // uniform(-b, b), b = gain*sqrt(3/fan_in), gain = value (default sqrt(2))
  XavierNormal,    // normal(0, gain*sqrt(2/(fan_in+fan_out))), gain = value (default 1)
  XavierUniform,   // uniform(-b, b), b = gain*sqrt(6/(fan_in+fan_out)), gain = value (default 1)
  Normal,           // normal(0, value)   (value = std, default 0.01)
  Uniform,          // uniform(-value, value) (default 0.05)
  Constant,         // value (default 0)
};

struct Init {
  InitKind kind = InitKind::PytorchDefault;
  std::optional<double> value;  // none: the kind's default (see above)
};

// A learnable tensor of a layer. `value` and `grad` have the same shape and device.
struct Parameter {
  std::string name;  // "weight" or "bias" (the checkpoint name is "<layer>.<name>")
  Tensor value;
  Tensor grad;  // ACCUMULATES (+=) in backward
  Init init;
  int64_t fan_in = 1, fan_out = 1;  // for Kaiming / Xavier
};

// A tensor a layer keeps and updates itself rather than by gradients (BatchNorm's running
// statistics; PyTorch's buffers): checkpoints store it as "<layer>.<name>" beside the parameters,
// solvers never see it.
struct LayerBuffer {
  std::string name;
  Tensor value;
};

// What backward gets. Pointers are parallel to the layer's inputs.
struct BackwardArgs {
  std::vector<const Tensor*> inputs = {};  // nullptr where backward_needs_input(i) was false
  const Tensor* output = nullptr;     // nullptr unless backward_needs_output()
  const Tensor* grad_output = nullptr;  // dL/doutput; nullptr for a loss layer (see loss_scale)
  std::vector<Tensor*> grad_inputs = {};  // to be WRITTEN; nullptr where no gradient is wanted
  // dL/d(port k) for each of the layer's ports() (secondary outputs), nullptr where none reached
  // it. A layer with ports may get grad_output == nullptr when gradients reached its ports only.
  std::vector<const Tensor*> grad_ports = {};
  float loss_scale = 1.0f;            // loss layers: dL/dloss (the layer's loss weight)
  const Stream& stream;              // the stream backward runs on (the forward's)
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  virtual const char* type() const = 0;

  // Arity: number of inputs accepted; max_inputs() < 0 means any number >= min_inputs().
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }
  // Loss layers produce a (1) tensor and start backward (with BackwardArgs::loss_scale).
  virtual bool is_loss() const { return false; }
  virtual float loss_weight() const { return 1.0f; }
  // Whether input i can carry a gradient at all (false for labels).
  virtual bool input_differentiable(int /*i*/) const { return true; }

  // Shape inference. Throws kiln::Error naming the layer, the expectation and what it got.
  virtual Shape output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const = 0;
  // Creates the parameters on `device` the first time; afterwards checks that they still fit.
  virtual void setup(const std::vector<Shape>& /*inputs*/, Device /*device*/) {}

  virtual Tensor forward(const std::vector<const Tensor*>& inputs, const Stream& stream) = 0;
  virtual void backward(const BackwardArgs& args) = 0;

  // Ports: secondary outputs besides the main one, which a graph reads as "<layer>.<port>" (a
  // recurrent layer's final states "h_n" and "c_n", so an encoder's final states can start a
  // decoder). port_shape(k) is inferred from the input shapes like output_shape; port(k) is the
  // value after forward, held by the layer until its next forward. Gradients that reach a port
  // come back in BackwardArgs::grad_ports.
  virtual std::vector<std::string> ports() const { return {}; }
  virtual Shape port_shape(int k, const std::vector<Shape>& /*inputs*/) const {
    throw Error("layer '" + name_ + "' (" + type() + ") has no port " + std::to_string(k));
  }
  virtual const Tensor& port(int k) const {
    throw Error("layer '" + name_ + "' (" + type() + ") has no port " + std::to_string(k));
  }
  // What backward reads, so the Net can release everything else as early as possible.
  virtual bool backward_needs_input(int /*i*/) const { return true; }
  virtual bool backward_needs_output() const { return false; }
  // State kept by forward for backward (argmax, LRN scale, ...): its size, and its release.
  virtual size_t saved_bytes() const { return 0; }
  virtual void release_saved() {}

  std::vector<Parameter>& parameters() { return params_; }
  const std::vector<Parameter>& parameters() const { return params_; }
  // Buffers (see LayerBuffer), made by setup() at their initial values; init_buffers() puts them
  // back there (Net::init_parameters calls it).
  std::vector<LayerBuffer>& buffers() { return buffers_; }
  const std::vector<LayerBuffer>& buffers() const { return buffers_; }
  virtual void init_buffers(const Stream& /*stream*/) {}

  bool training() const { return training_; }
  virtual void set_training(bool training) { training_ = training; }

  // Random-number state (Dropout): the Net gives each layer a seed; `rng_state` is what a
  // checkpoint stores so that a resumed run draws the same numbers.
  virtual void set_seed(uint64_t /*seed*/) {}
  virtual std::map<std::string, uint64_t> rng_state() const { return {}; }
  virtual void set_rng_state(const std::map<std::string, uint64_t>& /*state*/) {}

  // Data-parallel sharding: this process computes samples [first_sample, first_sample + N) of a
  // global batch of global_samples (0: not sharded, the local batch is the whole batch). Layers
  // that draw random numbers per sample (Dropout) key them by the global sample index, so the
  // result does not depend on how the batch is split over processes. A layer that cannot honour
  // it throws (a time-major recurrent layer). N, the local sample count, is the leading dimension
  // of the net's first input: Net::forward gives it to set_local_samples before the layers run, while
  // the net is sharded. Both calls are no-ops for layers that draw nothing.
  virtual void set_batch_shard(int64_t /*first_sample*/, int64_t /*global_samples*/) {}
  virtual void set_local_samples(int64_t /*samples*/) {}

  // State carried from one forward to the next: a stateful recurrent layer's final h and c, which
  // become the next forward's initial states (truncated back-propagation through time: values
  // flow on, gradients stop at the chunk boundary). reset_state() forgets it, so the next forward
  // starts from zeros; carried_state() names the tensors ("h", "c"; empty before the first
  // forward) so a checkpoint can store them, and set_carried_state() puts them back.
  virtual void reset_state() {}
  virtual std::map<std::string, const Tensor*> carried_state() const { return {}; }
  virtual void set_carried_state(const std::string& key, Tensor /*value*/) {
    throw Error("layer '" + name_ + "' (" + type() + ") carries no state '" + key + "'");
  }

  // The precision of the layer's products (kernels/shapes/precision.h, DESIGN principle 9): Linear,
  // Conv2d and the recurrent layers round the operands of their GEMMs and convolutions to it and
  // accumulate in FP32; other layers compute in FP32. Set for every layer by Net::set_precision.
  MathPrecision precision() const { return precision_; }
  void set_precision(MathPrecision precision) { precision_ = precision; }

  // One line of description for Net::summary(): "5x5, stride 1, pad 0, 20 channels".
  virtual std::string describe() const { return ""; }

 protected:
  std::vector<Parameter> params_;
  std::vector<LayerBuffer> buffers_;
  bool training_ = true;
  MathPrecision precision_ = MathPrecision::F32;

 private:
  std::string name_;
};

}  // namespace kiln
