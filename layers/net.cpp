#include "layers/net.h"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <set>

#include "core/error.h"
#include "kernels/convert.h"
#include "kernels/dispatch.h"
#include "layers/init.h"
#include "layers/tensor_ops.h"

namespace kiln {
namespace {

// Inside a catch block of an allocation failure (kiln::OutOfMemory, std::bad_alloc) in a layer's
// setup, forward or backward: rethrows it naming the layer, so that the user reads which layer
// asked for the memory and for what output shape.
[[noreturn]] void rethrow_naming_layer(const Layer& layer, const char* pass, const Shape& output) {
  rethrow_out_of_memory(fmt::format("layer '{}' ({}), {} (output {})", layer.name(), layer.type(), pass, output.str()));
}

}  // namespace

// One named tensor of the graph: a net input, a layer's output (layer set), or a layer's port
// ("<layer>.<port>": producer >= 0, the layer's node; port = its index in Layer::ports()).
struct Net::Node {
  std::string name;
  std::unique_ptr<Layer> layer;
  bool is_input = false;
  int producer = -1, port = -1;
  std::vector<int> port_nodes;  // a layer's ports, in Layer::ports() order
  std::vector<std::string> input_names;
  std::vector<int> inputs;  // node indices, parallel to input_names
  DType dtype = DType::F32;
  Shape shape;
  Tensor value, grad;
  // Consumers as (node, slot), one entry per input slot that reads this node.
  std::vector<std::pair<int, int>> consumers;
  bool needs_grad = false;      // d(loss)/d(this) is nonzero in general
  bool runs_backward = false;   // layer: backward() is called
  int backward_reads = 0;       // how many backward calls read the value
  int forward_left = 0, backward_left = 0;
  bool keep = false;
  size_t declared = 0;
};

struct Net::Impl {
  std::vector<Node> nodes;  // declaration order
  std::map<std::string, int> index;
  std::vector<int> order;   // layer nodes, topological
  std::vector<int> input_nodes;
  std::map<std::string, Shape> setup_shapes;
  bool resolved = false;
  bool forward_done = false, backward_done = false;
  std::string last_layer;
};

Net::Net(Device device) : device_(device), stream_(Stream::default_for(device)), impl_(std::make_unique<Impl>()) {}
Net::~Net() = default;
Net::Net(Net&&) noexcept = default;
Net& Net::operator=(Net&&) noexcept = default;

void Net::add_input(const std::string& name, DType dtype) {
  KILN_CHECK(!name.empty(), "net input: the name must not be empty");
  KILN_CHECK(!impl_->index.contains(name), "net input '{}': the name is already used by an input or a layer", name);
  Node n;
  n.name = name;
  n.dtype = dtype;
  n.is_input = true;
  n.declared = impl_->nodes.size();
  impl_->index[name] = static_cast<int>(impl_->nodes.size());
  impl_->input_nodes.push_back(static_cast<int>(impl_->nodes.size()));
  impl_->nodes.push_back(std::move(n));
  impl_->resolved = false;
  setup_done_ = false;
}

Layer& Net::add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs) {
  KILN_CHECK(layer != nullptr, "Net::add: null layer");
  const std::string name = layer->name();
  KILN_CHECK(!name.empty(), "a layer of type {} has no name", layer->type());
  KILN_CHECK(!impl_->index.contains(name), "layer '{}': the name is already used by another input or layer", name);
  if (inputs.empty()) {
    if (!impl_->last_layer.empty())
      inputs.push_back(impl_->last_layer);
    else if (!impl_->input_nodes.empty())
      inputs.push_back(impl_->nodes[static_cast<size_t>(impl_->input_nodes.front())].name);
    else
      fail(fmt::format("layer '{}': it is the first layer and the net has no input yet (call add_input first)", name));
  }
  Node n;
  n.name = name;
  n.layer = std::move(layer);
  n.input_names = std::move(inputs);
  n.declared = impl_->nodes.size();
  n.layer->set_training(training_);
  impl_->index[name] = static_cast<int>(impl_->nodes.size());
  n.layer->set_precision(precision_);
  if (shard_global_ > 0) n.layer->set_batch_shard(shard_first_, shard_global_);
  const int producer = static_cast<int>(impl_->nodes.size());
  const std::vector<std::string> ports = n.layer->ports();
  impl_->nodes.push_back(std::move(n));
  for (size_t k = 0; k < ports.size(); ++k) {
    const std::string port_name = name + "." + ports[k];
    KILN_CHECK(!impl_->index.contains(port_name), "layer '{}': its port '{}' clashes with an input or layer named '{}'",
               name, ports[k], port_name);
    Node p;
    p.name = port_name;
    p.producer = producer;
    p.port = static_cast<int>(k);
    p.declared = impl_->nodes.size();
    impl_->nodes[static_cast<size_t>(producer)].port_nodes.push_back(static_cast<int>(impl_->nodes.size()));
    impl_->index[port_name] = static_cast<int>(impl_->nodes.size());
    impl_->nodes.push_back(std::move(p));
  }
  impl_->last_layer = name;
  impl_->resolved = false;
  setup_done_ = false;
  return *impl_->nodes[static_cast<size_t>(producer)].layer;
}

Net::Node& Net::node_of(const std::string& name) {
  auto it = impl_->index.find(name);
  if (it == impl_->index.end()) {
    std::string known;
    for (const Node& n : impl_->nodes) known += (known.empty() ? "" : ", ") + n.name;
    fail(fmt::format("no input or layer named '{}' in the net (known: {})", name, known));
  }
  return impl_->nodes[static_cast<size_t>(it->second)];
}
const Net::Node& Net::node_of(const std::string& name) const { return const_cast<Net*>(this)->node_of(name); }

void Net::resolve() {
  Impl& im = *impl_;
  for (Node& n : im.nodes) {
    n.inputs.clear();
    n.consumers.clear();
  }
  for (size_t i = 0; i < im.nodes.size(); ++i) {
    Node& n = im.nodes[i];
    if (!n.layer) continue;
    const int count = static_cast<int>(n.input_names.size());
    const int lo = n.layer->min_inputs(), hi = n.layer->max_inputs();
    if (count < lo || (hi >= 0 && count > hi)) {
      const std::string want = hi < 0 ? fmt::format("at least {}", lo)
                               : lo == hi ? fmt::format("{}", lo)
                                          : fmt::format("{} to {}", lo, hi);
      fail(fmt::format("layer '{}' ({}): expects {} input{}, got {} ({})", n.name, n.layer->type(), want,
                       (hi == 1 && lo == 1) ? "" : "s", count, fmt::join(n.input_names, ", ")));
    }
    for (int slot = 0; slot < count; ++slot) {
      const std::string& in = n.input_names[static_cast<size_t>(slot)];
      auto it = im.index.find(in);
      if (it == im.index.end()) {
        std::string known;
        for (const Node& m : im.nodes)
          if (m.name != n.name) known += (known.empty() ? "" : ", ") + m.name;
        fail(fmt::format("layer '{}': input '{}' is neither a net input nor a layer (known: {})", n.name, in, known));
      }
      KILN_CHECK(it->second != static_cast<int>(i), "layer '{}': reads its own output", n.name);
      n.inputs.push_back(it->second);
      im.nodes[static_cast<size_t>(it->second)].consumers.emplace_back(static_cast<int>(i), slot);
    }
  }
  // Kahn's algorithm, always taking the earliest-declared ready layer: a sequential net runs in
  // declaration order, and the order never depends on a container's iteration order.
  im.order.clear();
  std::vector<bool> done(im.nodes.size(), false);
  for (int i : im.input_nodes) done[static_cast<size_t>(i)] = true;
  size_t layers = 0;
  for (const Node& n : im.nodes) layers += n.layer ? 1 : 0;
  while (im.order.size() < layers) {
    int pick = -1;
    for (size_t i = 0; i < im.nodes.size() && pick < 0; ++i) {
      const Node& n = im.nodes[i];
      if (done[i] || !n.layer) continue;
      if (std::all_of(n.inputs.begin(), n.inputs.end(), [&](int j) { return done[static_cast<size_t>(j)]; }))
        pick = static_cast<int>(i);
    }
    if (pick < 0) {
      std::vector<std::string> stuck;
      for (size_t i = 0; i < im.nodes.size(); ++i)
        if (!done[i]) stuck.push_back(im.nodes[i].name);
      fail(fmt::format("the layer graph has a cycle among: {}", fmt::join(stuck, ", ")));
    }
    done[static_cast<size_t>(pick)] = true;
    for (int p : im.nodes[static_cast<size_t>(pick)].port_nodes) done[static_cast<size_t>(p)] = true;
    im.order.push_back(pick);
  }
  im.resolved = true;
}

void Net::setup(const std::map<std::string, Shape>& input_shapes) {
  Impl& im = *impl_;
  if (!im.resolved) resolve();
  KILN_CHECK(!im.order.empty(), "the net has no layers");
  for (const auto& [name, shape] : input_shapes) {
    auto it = im.index.find(name);
    KILN_CHECK(it != im.index.end() && im.nodes[static_cast<size_t>(it->second)].is_input,
               "setup: '{}' is not an input of the net", name);
  }
  for (int i : im.input_nodes) {
    Node& n = im.nodes[static_cast<size_t>(i)];
    auto it = input_shapes.find(n.name);
    KILN_CHECK(it != input_shapes.end(), "setup: no shape given for the net input '{}'", n.name);
    n.shape = it->second;
  }
  for (int li : im.order) {
    Node& n = im.nodes[static_cast<size_t>(li)];
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    for (int j : n.inputs) {
      shapes.push_back(im.nodes[static_cast<size_t>(j)].shape);
      dtypes.push_back(im.nodes[static_cast<size_t>(j)].dtype);
    }
    n.shape = n.layer->output_shape(shapes, dtypes);
    n.dtype = DType::F32;
    for (int p : n.port_nodes) {
      Node& port = im.nodes[static_cast<size_t>(p)];
      port.shape = n.layer->port_shape(port.port, shapes);
      port.dtype = DType::F32;
    }
    try {
      n.layer->setup(shapes, device_);
    } catch (const OutOfMemory&) {
      rethrow_naming_layer(*n.layer, "allocating its parameters", n.shape);
    } catch (const std::bad_alloc&) {
      rethrow_naming_layer(*n.layer, "allocating its parameters", n.shape);
    }
  }
  // Which tensors carry gradients and which layers run backward.
  for (Node& n : im.nodes) {
    n.needs_grad = false;
    n.runs_backward = false;
    n.backward_reads = 0;
  }
  for (int li : im.order) {
    Node& n = im.nodes[static_cast<size_t>(li)];
    bool g = !n.layer->parameters().empty();
    for (size_t s = 0; s < n.inputs.size(); ++s)
      g = g || (n.layer->input_differentiable(static_cast<int>(s)) && im.nodes[static_cast<size_t>(n.inputs[s])].needs_grad);
    n.needs_grad = g;
    for (int p : n.port_nodes) im.nodes[static_cast<size_t>(p)].needs_grad = g;
  }
  for (auto it = im.order.rbegin(); it != im.order.rend(); ++it) {
    Node& n = im.nodes[static_cast<size_t>(*it)];
    bool downstream = n.layer->is_loss();
    std::vector<int> read_by = n.port_nodes;  // the tensors it produces: its output and its ports
    read_by.push_back(*it);
    for (int produced : read_by) {
      for (auto [c, slot] : im.nodes[static_cast<size_t>(produced)].consumers) {
        const Node& cn = im.nodes[static_cast<size_t>(c)];
        downstream = downstream || (cn.runs_backward && cn.layer->input_differentiable(slot));
      }
    }
    n.runs_backward = n.needs_grad && downstream;
  }
  for (int li : im.order) {
    Node& n = im.nodes[static_cast<size_t>(li)];
    if (!n.runs_backward) continue;
    if (n.layer->backward_needs_output()) ++n.backward_reads;
    for (size_t s = 0; s < n.inputs.size(); ++s)
      if (n.layer->backward_needs_input(static_cast<int>(s))) ++im.nodes[static_cast<size_t>(n.inputs[s])].backward_reads;
  }
  im.setup_shapes = input_shapes;
  setup_done_ = true;
}

void Net::init_parameters(uint64_t seed) {
  KILN_CHECK(setup_done_, "init_parameters: call setup() first (parameter shapes come from the input shapes)");
  for (int li : impl_->order) {
    Layer& l = *impl_->nodes[static_cast<size_t>(li)].layer;
    for (Parameter& p : l.parameters()) {
      init_parameter(p, seed, init_offset(l.name() + "." + p.name), stream_);
      p.grad.fill_zero(stream_);
    }
    l.init_buffers(stream_);
    // Each layer's own random stream: the net seed mixed with the layer's name.
    l.set_seed(seed ^ (init_offset(l.name()) | (init_offset("#" + l.name()) >> 32)));
  }
}

void Net::set_training(bool training) {
  training_ = training;
  for (Node& n : impl_->nodes)
    if (n.layer) n.layer->set_training(training);
}

// `v` as the FP32 tensor a layer reads: v itself, or (a 16-bit activation) its exact FP32 copy made
// into `slot`, whose bytes are added to `bytes`.
const Tensor* Net::widened(const Tensor& v, Tensor& slot, size_t& bytes) const {
  if (!v.defined() || (v.dtype() != DType::BF16 && v.dtype() != DType::F16)) return &v;
  slot = graph::to_dtype(v, DType::F32, stream_);
  bytes += slot.nbytes();
  return &slot;
}

// A rounded copy of an FP32 output that shares memory with its input (a view, e.g. Flatten's),
// which must not be rounded in place.
Tensor Net::round_copy(const Tensor& v) const {
  Tensor out = Tensor::empty(v.shape(), stream_);
  KILN_DISPATCH(device_, round_to_precision, ConvertShape{.n = v.numel()}, precision_, v.data<float>(),
                out.data<float>(), stream_);
  return out;
}

// The precision activations and their gradients are stored in: BF16/F16 under mixed precision,
// F32 otherwise (TF32 rounds operands only).
MathPrecision Net::stored_precision() const {
  return graph::activation_dtype(precision_) == DType::F32 ? MathPrecision::F32 : precision_;
}

void Net::set_precision(MathPrecision precision) {
  precision_ = precision;
  for (Node& n : impl_->nodes)
    if (n.layer) n.layer->set_precision(precision);
}

void Net::account() {
  size_t bytes = 0;
  std::vector<const Tensor*> seen;
  for (const Node& n : impl_->nodes) {
    if (!n.value.defined()) continue;
    const bool shared = std::any_of(seen.begin(), seen.end(), [&](const Tensor* t) { return t->shares_memory_with(n.value); });
    seen.push_back(&n.value);
    if (n.layer && !shared) bytes += n.value.nbytes();
  }
  for (const Node& n : impl_->nodes) {
    if (n.grad.defined()) bytes += n.grad.nbytes();
    if (n.layer) bytes += n.layer->saved_bytes();
  }
  live_bytes_ = bytes;
  peak_bytes_ = std::max(peak_bytes_, live_bytes_);
}

// Mixed precision: an activation whose forward readers are done and that waits only for backward is
// kept as a 16-bit tensor (exact: its values were rounded when it was made), halving what training
// holds between forward and backward. The caller's reads (outputs, keep()) stay FP32.
void Net::narrow(int tensor) {
  Node& n = impl_->nodes[static_cast<size_t>(tensor)];
  const DType stored = graph::activation_dtype(precision_);
  if (stored == DType::F32 || !n.layer || n.keep || n.consumers.empty() || n.value.dtype() != DType::F32) return;
  // Views of the same memory (Flatten's output and its input) share one 16-bit copy: made when the
  // last of them has no forward reader left, then every one of them is a view of it.
  std::vector<Node*> views;
  for (Node& other : impl_->nodes) {
    if (&other == &n || !other.value.defined() || !other.value.shares_memory_with(n.value)) continue;
    if (other.forward_left > 0) return;  // still read as FP32 by a forward to come
    const bool same = other.layer && other.value.raw_data() == n.value.raw_data() &&
                      other.value.numel() == n.value.numel() && other.value.dtype() == DType::F32 && !other.keep &&
                      !other.consumers.empty();
    if (same) views.push_back(&other);
  }
  n.value = graph::to_dtype(n.value, stored, stream_);
  for (Node* v : views) v->value = n.value.reshape(v->value.shape());
  account();
}

void Net::release(int tensor) {
  Node& n = impl_->nodes[static_cast<size_t>(tensor)];
  const bool is_output = n.layer && n.consumers.empty();
  if (n.keep || is_output) return;
  n.value = Tensor();
}

void Net::forward(const std::map<std::string, const Tensor*>& feeds) {
  Impl& im = *impl_;
  if (!im.resolved) resolve();
  for (const auto& [name, t] : feeds) {
    auto it = im.index.find(name);
    KILN_CHECK(it != im.index.end() && im.nodes[static_cast<size_t>(it->second)].is_input,
               "forward: '{}' is not an input of the net", name);
    KILN_CHECK(t != nullptr && t->defined(), "forward: the tensor fed to '{}' is undefined", name);
  }
  std::map<std::string, Shape> shapes;
  for (int i : im.input_nodes) {
    const Node& n = im.nodes[static_cast<size_t>(i)];
    auto it = feeds.find(n.name);
    KILN_CHECK(it != feeds.end(), "forward: the net input '{}' was not fed", n.name);
    const Tensor& t = *it->second;
    KILN_CHECK(t.device() == device_, "forward: input '{}' is on {} but the net is on {} (copy it with Tensor::to)",
               n.name, t.device().str(), device_.str());
    KILN_CHECK(t.dtype() == n.dtype, "forward: input '{}' holds {}, the net declared {}", n.name,
               dtype_name(t.dtype()), dtype_name(n.dtype));
    shapes[n.name] = t.shape();
  }
  if (!setup_done_ || shapes != im.setup_shapes) setup(shapes);
  if (shard_global_ > 0) {
    // Sharded: the first declared input's dim 0 is this process's sample count N.
    const std::string& data = im.nodes[static_cast<size_t>(im.input_nodes.front())].name;
    const Shape& shape = shapes.at(data);
    KILN_CHECK(shape.rank() >= 1, "forward: sharded batch, but input '{}' has no sample dimension", data);
    const int64_t samples = shape[0];
    KILN_CHECK(shard_first_ + samples <= shard_global_,
               "forward: samples [{}, {}) exceed the global batch of {} (set_batch_shard)", shard_first_,
               shard_first_ + samples, shard_global_);
    for (Node& n : im.nodes)
      if (n.layer) n.layer->set_local_samples(samples);
  }

  for (Node& n : im.nodes) {
    n.value = Tensor();
    n.grad = Tensor();
    if (n.layer) n.layer->release_saved();
    n.forward_left = static_cast<int>(n.consumers.size());
    n.backward_left = training_ ? n.backward_reads : 0;
  }
  for (int i : im.input_nodes) {
    Node& n = im.nodes[static_cast<size_t>(i)];
    n.value = feeds.at(n.name)->view();
  }
  account();
  const DType stored = graph::activation_dtype(precision_);
  const Node* current = nullptr;  // the layer an allocation failure is reported for
  try {
    for (int li : im.order) {
      Node& n = im.nodes[static_cast<size_t>(li)];
      current = &n;
      std::vector<const Tensor*> ins;
      for (int j : n.inputs) ins.push_back(&im.nodes[static_cast<size_t>(j)].value);
      if (observer_) observer_(*n.layer, Pass::Forward, true);
      n.value = n.layer->forward(ins, stream_);
      if (observer_) observer_(*n.layer, Pass::Forward, false);
      KILN_CHECK(n.value.shape() == n.shape, "layer '{}' ({}): forward produced {} but shape inference said {}",
                 n.name, n.layer->type(), n.value.shape().str(), n.shape.str());
      for (int p : n.port_nodes) {
        Node& port = im.nodes[static_cast<size_t>(p)];
        port.value = n.layer->port(port.port).view();
        KILN_CHECK(port.value.shape() == port.shape, "layer '{}' ({}): port '{}' holds {} but shape inference said {}",
                   n.name, n.layer->type(), port.name, port.value.shape().str(), port.shape.str());
      }
      if (!training_ || !n.runs_backward) n.layer->release_saved();
      if (stored != DType::F32 && n.value.dtype() == DType::F32 && !n.layer->is_loss()) {
        // Mixed precision: the activation holds 16-bit values from the start (its forward readers
        // see what a 16-bit tensor holds). A view of an input (Flatten) holds rounded values already
        // if that input is an activation; a view of a net input (the caller's data) is rounded as a copy.
        bool view = false, view_of_net_input = false;
        for (int j : n.inputs) {
          const Node& in = im.nodes[static_cast<size_t>(j)];
          if (!in.value.shares_memory_with(n.value)) continue;
          view = true;
          view_of_net_input = view_of_net_input || in.is_input;
        }
        if (view_of_net_input) n.value = round_copy(n.value);
        else if (!view) graph::round_in_place(n.value, precision_, stream_);
      }
      account();
      for (int j : n.inputs) {
        Node& in = im.nodes[static_cast<size_t>(j)];
        if (--in.forward_left > 0) continue;
        if (in.backward_left == 0) release(j);
        else narrow(j);
      }
    }
  } catch (const OutOfMemory&) {
    if (current == nullptr) throw;
    rethrow_naming_layer(*current->layer, "forward", current->shape);
  } catch (const std::bad_alloc&) {
    if (current == nullptr) throw;
    rethrow_naming_layer(*current->layer, "forward", current->shape);
  }
  account();
  im.forward_done = true;
  im.backward_done = false;
}

void Net::backward(const Tensor* loss_scale) {
  Impl& im = *impl_;
  KILN_CHECK(training_, "backward: the net is in inference mode (set_training(true) before forward)");
  KILN_CHECK(im.forward_done && !im.backward_done,
             "backward: needs a forward() in training mode first (each forward allows one backward)");
  bool any_loss = false;
  for (int li : im.order) any_loss = any_loss || im.nodes[static_cast<size_t>(li)].layer->is_loss();
  KILN_CHECK(any_loss, "backward: the net has no loss layer (SoftmaxCrossEntropy, MSELoss)");

  const Node* current = nullptr;  // the layer an allocation failure is reported for
  try {
    for (auto it = im.order.rbegin(); it != im.order.rend(); ++it) {
      const int li = *it;
      Node& n = im.nodes[static_cast<size_t>(li)];
      current = &n;
      if (!n.runs_backward) continue;
      Layer& l = *n.layer;
      BackwardArgs args{.stream = stream_};
      // Releases what no later backward reads: this layer's saved state, its output gradient, and
      // the activations whose last reader this layer was.
      auto release_after = [&] {
        n.grad = Tensor();
        for (int p : n.port_nodes) im.nodes[static_cast<size_t>(p)].grad = Tensor();
        l.release_saved();
        if (l.backward_needs_output() && --n.backward_left == 0 && n.forward_left == 0) release(li);
        for (size_t s = 0; s < n.inputs.size(); ++s) {
          if (!l.backward_needs_input(static_cast<int>(s))) continue;
          Node& in = im.nodes[static_cast<size_t>(n.inputs[s])];
          if (--in.backward_left == 0) release(n.inputs[s]);
        }
        account();
      };
      bool port_grads = false;
      for (int p : n.port_nodes) {
        const Tensor& g = im.nodes[static_cast<size_t>(p)].grad;
        args.grad_ports.push_back(g.defined() ? &g : nullptr);
        port_grads = port_grads || g.defined();
      }
      if (l.is_loss()) {
        args.loss_scale = l.loss_weight();
      } else if (n.grad.defined() || port_grads) {
        args.grad_output = n.grad.defined() ? &n.grad : nullptr;
      } else {
        release_after();  // nothing downstream produced a gradient
        continue;
      }
      std::vector<Tensor> wide(n.inputs.size() + 1);  // FP32 copies of 16-bit activations
      size_t temp_bytes = 0;
      if (l.backward_needs_output()) args.output = widened(n.value, wide.back(), temp_bytes);
      std::vector<Tensor> temps(n.inputs.size());
      std::vector<bool> targeted(im.nodes.size(), false);
      for (size_t s = 0; s < n.inputs.size(); ++s) {
        Node& in = im.nodes[static_cast<size_t>(n.inputs[s])];
        args.inputs.push_back(l.backward_needs_input(static_cast<int>(s)) ? widened(in.value, wide[s], temp_bytes)
                                                                            : nullptr);
        if (!(in.needs_grad && l.input_differentiable(static_cast<int>(s)))) {
          args.grad_inputs.push_back(nullptr);
          continue;
        }
        if (!in.grad.defined() && !targeted[static_cast<size_t>(n.inputs[s])]) {
          in.grad = Tensor::empty(in.shape, device_);
          targeted[static_cast<size_t>(n.inputs[s])] = true;
          args.grad_inputs.push_back(&in.grad);
        } else {
          temps[s] = Tensor::empty(in.shape, device_);
          temp_bytes += temps[s].nbytes();
          args.grad_inputs.push_back(&temps[s]);
        }
      }
      account();
      peak_bytes_ = std::max(peak_bytes_, live_bytes_ + temp_bytes);
      if (observer_) observer_(l, Pass::Backward, true);
      l.backward(args);
      wide.clear();
      // The gradients as they flow on: the loss scale applied to what a loss layer seeds, and the
      // 16-bit rounding of mixed precision (a no-op for F32 and TF32 storage).
      const MathPrecision flow = stored_precision();
      for (size_t s = 0; s < n.inputs.size(); ++s) {
        Tensor* g = args.grad_inputs[s];
        if (!g) continue;
        if (l.is_loss() && loss_scale) graph::scale_gradient(*g, *loss_scale, flow, stream_);
        else graph::round_in_place(*g, flow, stream_);
        if (temps[s].defined()) {
          Tensor& sum = im.nodes[static_cast<size_t>(n.inputs[s])].grad;
          graph::add_into(sum, temps[s], stream_);
          graph::round_in_place(sum, flow, stream_);
        }
      }
      if (observer_) observer_(l, Pass::Backward, false);
      if (gradients_ready_) gradients_ready_(l);
      temps.clear();
      release_after();
    }
  } catch (const OutOfMemory&) {
    if (current == nullptr) throw;
    rethrow_naming_layer(*current->layer, "backward", current->shape);
  } catch (const std::bad_alloc&) {
    if (current == nullptr) throw;
    rethrow_naming_layer(*current->layer, "backward", current->shape);
  }
  for (Node& n : im.nodes) n.grad = Tensor();
  account();
  im.backward_done = true;
}

void Net::zero_grad() {
  for (Node& n : impl_->nodes)
    if (n.layer)
      for (Parameter& p : n.layer->parameters())
        if (p.grad.defined()) p.grad.fill_zero(stream_);
}

const Tensor& Net::output(const std::string& name) const {
  const Node& n = node_of(name);
  KILN_CHECK(impl_->forward_done, "output('{}'): run forward() first", name);
  KILN_CHECK(n.value.defined(),
             "output('{}'): the activation was released after its last use (only the net's outputs and what "
             "backward reads are kept); call keep(\"{}\") before forward to keep it",
             name, name);
  return n.value;
}

void Net::keep(const std::string& name) { node_of(name).keep = true; }

std::vector<std::string> Net::output_names() const {
  const_cast<Net*>(this)->resolve();
  std::vector<std::string> out;
  for (int li : impl_->order) {
    const Node& n = impl_->nodes[static_cast<size_t>(li)];
    if (n.consumers.empty()) out.push_back(n.name);
  }
  return out;
}

const Shape& Net::shape_of(const std::string& name) const {
  KILN_CHECK(setup_done_, "shape_of('{}'): call setup() first", name);
  return node_of(name).shape;
}

std::vector<Net::ParamRef> Net::parameters() {
  if (!impl_->resolved) resolve();
  std::vector<ParamRef> out;
  for (int li : impl_->order) {
    Layer* l = impl_->nodes[static_cast<size_t>(li)].layer.get();
    for (Parameter& p : l->parameters()) out.push_back({l->name() + "." + p.name, l, &p});
  }
  return out;
}

std::vector<Net::BufferRef> Net::buffers() {
  if (!impl_->resolved) resolve();
  std::vector<BufferRef> out;
  for (int li : impl_->order) {
    Layer* l = impl_->nodes[static_cast<size_t>(li)].layer.get();
    for (LayerBuffer& b : l->buffers()) out.push_back({l->name() + "." + b.name, l, &b.value});
  }
  return out;
}

int64_t Net::parameter_count() const {
  int64_t count = 0;
  for (const Node& n : impl_->nodes)
    if (n.layer)
      for (const Parameter& p : n.layer->parameters()) count += p.value.numel();
  return count;
}

Layer& Net::layer(const std::string& name) {
  Node& n = node_of(name);
  KILN_CHECK(n.layer != nullptr, "'{}' is a {}, not a layer", name, n.is_input ? "net input" : "layer's port");
  return *n.layer;
}

std::vector<Layer*> Net::layers() const {
  if (!impl_->resolved) const_cast<Net*>(this)->resolve();
  std::vector<Layer*> out;
  for (int li : impl_->order) out.push_back(impl_->nodes[static_cast<size_t>(li)].layer.get());
  return out;
}

std::map<std::string, uint64_t> Net::rng_state() const {
  std::map<std::string, uint64_t> out;
  for (const Node& n : impl_->nodes)
    if (n.layer)
      for (const auto& [k, v] : n.layer->rng_state()) out[n.name + "." + k] = v;
  return out;
}

void Net::set_rng_state(const std::map<std::string, uint64_t>& state) {
  std::map<std::string, std::map<std::string, uint64_t>> per_layer;
  for (const auto& [key, v] : state) {
    const size_t dot = key.rfind('.');
    KILN_CHECK(dot != std::string::npos, "set_rng_state: key '{}' is not '<layer>.<key>'", key);
    per_layer[key.substr(0, dot)][key.substr(dot + 1)] = v;
  }
  for (const auto& [name, s] : per_layer) layer(name).set_rng_state(s);
}

void Net::set_batch_shard(int64_t first_sample, int64_t global_samples) {
  KILN_CHECK(global_samples >= 0 && first_sample >= 0 && (global_samples > 0 || first_sample == 0) &&
                 first_sample < std::max<int64_t>(global_samples, 1),
             "set_batch_shard: first sample {} of a global batch of {} (0: not sharded, first must be 0)",
             first_sample, global_samples);
  shard_first_ = first_sample;
  shard_global_ = global_samples;
  for (Node& n : impl_->nodes)
    if (n.layer) n.layer->set_batch_shard(first_sample, global_samples);
}

void Net::reset_state() {
  for (Node& n : impl_->nodes)
    if (n.layer) n.layer->reset_state();
}

std::map<std::string, const Tensor*> Net::carried_state() const {
  std::map<std::string, const Tensor*> out;
  for (const Node& n : impl_->nodes)
    if (n.layer)
      for (const auto& [k, t] : n.layer->carried_state()) out[n.name + "." + k] = t;
  return out;
}

void Net::set_carried_state(std::map<std::string, Tensor> state) {
  for (auto& [key, t] : state) {
    const size_t dot = key.rfind('.');
    KILN_CHECK(dot != std::string::npos, "set_carried_state: key '{}' is not '<layer>.<key>'", key);
    Tensor value = t.device() == device_ ? std::move(t) : t.to(device_);
    layer(key.substr(0, dot)).set_carried_state(key.substr(dot + 1), std::move(value));
  }
}

std::string Net::summary() const {
  std::string out = fmt::format("{:<16} {:<20} {:<24} {:<20} {:>10}\n", "layer", "type", "inputs", "output", "params");
  for (int i : impl_->input_nodes) {
    const Node& n = impl_->nodes[static_cast<size_t>(i)];
    out += fmt::format("{:<16} {:<20} {:<24} {:<20} {:>10}\n", n.name, "input", "", setup_done_ ? n.shape.str() : "?", 0);
  }
  for (Layer* l : layers()) {
    const Node& n = node_of(l->name());
    int64_t params = 0;
    for (const Parameter& p : l->parameters()) params += p.value.numel();
    out += fmt::format("{:<16} {:<20} {:<24} {:<20} {:>10}  {}\n", n.name, l->type(), fmt::format("{}", fmt::join(n.input_names, ",")),
                       setup_done_ ? n.shape.str() : "?", params, l->describe());
  }
  out += fmt::format("{} parameters\n", parameter_count());
  return out;
}

}  // namespace kiln
