// kiln::Net: a directed acyclic graph of named layers, run forward and backward.
//
//   Net net(Device::cpu());
//   net.add_input("data");                       // F32 by default
//   net.add_input("label", DType::I32);
//   net.add(make_layer(conv1_spec));             // no inputs given: the previous layer's output
//   ...                                          // (the first net input for the first layer)
//   net.add(make_layer(loss_spec), {"fc2", "label"});
//   net.setup({{"data", {64, 1, 28, 28}}, {"label", {64}}});   // shapes, parameters
//   net.init_parameters(seed);
//   net.forward({{"data", &x}, {"label", &y}});  // training mode by default
//   net.backward();                               // parameter gradients += (zero_grad() first)
//
// Each layer has one output, named after the layer. Layers may be added in any order: setup()
// sorts them topologically (stable: declaration order among independent layers) and reports
// unknown input names and cycles.
//
// Memory. In training mode an activation is kept after forward only if some backward reads it
// (Layer::backward_needs_input / backward_needs_output) and is released by backward as soon as
// the last layer that reads it has run; activation gradients are released as soon as they have
// been propagated. In inference mode (set_training(false)) an activation is released as soon as
// its last consumer has run. The outputs of the net (layers nobody consumes) and the names given
// to keep() are always kept until the next forward. peak_activation_bytes() is the high-water mark
// of activations + activation gradients + state the layers saved for backward (a view that shares
// memory with a live tensor, as Flatten's output, is counted once).
//
// Precision (set_precision; DESIGN principle 9). F32: everything FP32. TF32: the layers' GEMMs and
// convolutions round their operands to TF32 (Layer::precision), storage stays FP32. BF16 / F16
// (mixed precision): the same rounding of operands, and every activation holds 16-bit values: a
// layer's FP32 output is rounded to BF16/F16 as it is made (its readers see what a 16-bit tensor
// holds), and once its forward readers are done, an activation kept for backward is stored as a
// 16-bit tensor (half the memory held between forward and backward); a backward reading it gets a
// transient exact FP32 copy. So every layer computes in FP32 on 16-bit values. Outputs read by the
// caller (the net's outputs and keep() names) stay FP32 tensors holding rounded values. Activation gradients are
// rounded to the 16-bit format as they flow (underflow and overflow as a 16-bit tensor would have
// them, which is what FP16 loss scaling guards against); parameter gradients are the FP32 results of
// FP32 accumulation; parameters (the masters) and optimiser state stay FP32. backward(&scale)
// multiplies the gradients the loss layers seed by scale[0] (a device float, the FP16 loss scale:
// tools/train/loss_scaler.h) before they are rounded.
//
// Gradients of a tensor consumed by several layers are summed by the Net; the parameter gradient
// and input gradient conventions are in layers/layer_interface.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer_interface.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace kiln {

class Net {
 public:
  explicit Net(Device device = Device::cpu());
  ~Net();
  Net(Net&&) noexcept;
  Net& operator=(Net&&) noexcept;

  Device device() const { return device_; }
  const Stream& stream() const { return stream_; }

  // Declares a net input (fed to forward by name).
  void add_input(const std::string& name, DType dtype = DType::F32);
  // Adds a layer reading `inputs` (names of net inputs or layers); empty = sequential.
  Layer& add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs = {});

  // Resolves the graph, infers every shape from the input shapes and creates the parameters on
  // the net's device. Called again (by forward) whenever the input shapes change, e.g. batch size.
  void setup(const std::map<std::string, Shape>& input_shapes);
  bool is_setup() const { return setup_done_; }

  // Initialises every parameter per its layer's Init with Philox (seed, init_offset(name)), puts
  // every buffer at its initial value, and gives every layer its seed (Dropout); identical on every
  // device. Zeroes the gradients.
  void init_parameters(uint64_t seed);

  void set_training(bool training);
  bool training() const { return training_; }

  // The precision of every layer's products and of the activations (see the top of this file).
  void set_precision(MathPrecision precision);
  MathPrecision precision() const { return precision_; }

  // Runs the layers in topological order. Every declared input must be fed, on the net's device.
  void forward(const std::map<std::string, const Tensor*>& feeds);
  // Backward from every loss layer (seeded with its loss weight, times loss_scale[0] when given: a
  // (1) float tensor on the net's device). Training mode only, after forward.
  void backward(const Tensor* loss_scale = nullptr);
  // Parameter gradients to zero.
  void zero_grad();

  // The output of a layer after forward (the net's outputs and keep() names always; others while
  // still live). Throws, saying why, if it was released.
  const Tensor& output(const std::string& name) const;
  void keep(const std::string& name);
  // Names of layers whose output no other layer consumes (losses, logits...).
  std::vector<std::string> output_names() const;
  // Shape of a net input or layer output, after setup.
  const Shape& shape_of(const std::string& name) const;

  // Every parameter, in topological order, named "<layer>.<parameter>".
  struct ParamRef {
    std::string name;
    Layer* layer;
    Parameter* param;
  };
  std::vector<ParamRef> parameters();
  int64_t parameter_count() const;
  // Every buffer (layers/layer_interface.h: LayerBuffer), in topological order, named
  // "<layer>.<buffer>" (BatchNorm's running statistics).
  struct BufferRef {
    std::string name;
    Layer* layer;
    Tensor* value;
  };
  std::vector<BufferRef> buffers();

  Layer& layer(const std::string& name);
  // The layers in execution (topological) order, after setup.
  std::vector<Layer*> layers() const;

  size_t peak_activation_bytes() const { return peak_bytes_; }
  size_t live_activation_bytes() const { return live_bytes_; }
  void reset_peak() { peak_bytes_ = live_bytes_; }

  // Random-number state of every layer that has one ("<layer>.<key>" -> value), for checkpoints.
  std::map<std::string, uint64_t> rng_state() const;
  void set_rng_state(const std::map<std::string, uint64_t>& state);

  // Data-parallel training: this process computes samples [first_sample, first_sample + N) of a
  // global batch of global_samples, N being the leading dimension of the first declared input
  // (the data: sample-major, (N, ...)). Forwarded to every layer (Layer::set_batch_shard, also to layers added later),
  // so dropout masks are keyed by the global sample index and equal those of one process running
  // the whole batch. global_samples = 0 (the default) means not sharded: the local batch is the
  // whole batch.
  void set_batch_shard(int64_t first_sample, int64_t global_samples);

  // State carried between forwards by stateful layers (layers/layer_interface.h), named
  // "<layer>.<key>": reset_state() makes every layer start its next forward from zeros;
  // carried_state() / set_carried_state() are for checkpoints and evaluation (tensors on another
  // device than the net's are copied to it; the others are taken as they are).
  void reset_state();
  std::map<std::string, const Tensor*> carried_state() const;
  void set_carried_state(std::map<std::string, Tensor> state);

  // A table: layer, type, inputs, output shape, parameters.
  std::string summary() const;

  // Optional per-layer observer, for timing (`kiln bench train`'s breakdown, like `caffe time`):
  // called with begin=true just before and begin=false just after each layer's forward and
  // backward (backward includes the Net's summing of fanned-in gradients). Unset (the default) it
  // costs one branch per layer. The Net does not synchronise for it: work on a GPU stream is
  // asynchronous, so an observer that times on a GPU must synchronise the stream (or record CUDA
  // events) itself. Pass an empty function to remove it.
  enum class Pass { Forward, Backward };
  using LayerObserver = std::function<void(const Layer& layer, Pass pass, bool begin)>;
  void set_layer_observer(LayerObserver observer) { observer_ = std::move(observer); }

  // Called after each layer's backward has been queued, with its parameter gradients final for
  // this step (data-parallel training starts their all-reduce then: tools/dist/gradient_buckets.h).
  // Not called for a layer whose backward did not run. An empty function removes it.
  using GradientsReady = std::function<void(const Layer& layer)>;
  void set_gradients_ready(GradientsReady hook) { gradients_ready_ = std::move(hook); }

 private:
  struct Node;
  struct Impl;
  void resolve();
  void account();
  void release(int tensor);
  void narrow(int tensor);
  const Tensor* widened(const Tensor& v, Tensor& slot, size_t& bytes) const;
  Tensor round_copy(const Tensor& v) const;
  MathPrecision stored_precision() const;
  Node& node_of(const std::string& name);
  const Node& node_of(const std::string& name) const;

  Device device_;
  Stream stream_;
  std::unique_ptr<Impl> impl_;
  MathPrecision precision_ = MathPrecision::F32;
  bool setup_done_ = false;
  bool training_ = true;
  size_t live_bytes_ = 0, peak_bytes_ = 0;
  int64_t shard_first_ = 0, shard_global_ = 0;  // set_batch_shard
  LayerObserver observer_;
  GradientsReady gradients_ready_;
};

}  // namespace kiln
