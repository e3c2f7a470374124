// The explicit table of layer types. A new layer is one row here.
#include "layers/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "layers/layer.h"
#include "layers/layers.h"
#include "layers/recurrent.h"

namespace kiln::layers {

namespace {

using Factory = std::unique_ptr<Layer> (*)(SpecReader&);

std::unique_ptr<Layer> make_conv2d(SpecReader& r) {
  Conv2dOptions o;
  o.out_channels = r.require_positive("out_channels");
  o.in_channels = r.get_positive("in_channels", 0, /*allow_zero=*/true);
  if (!r.has("kernel")) r.bad("kernel", "a positive integer or a list of two (required)");
  std::tie(o.kernel_h, o.kernel_w) = r.get_pair("kernel", {1, 1});
  std::tie(o.stride_h, o.stride_w) = r.get_pair("stride", {1, 1});
  std::tie(o.pad_h, o.pad_w) = r.get_pair("pad", {0, 0}, /*allow_zero=*/true);
  std::tie(o.dilation_h, o.dilation_w) = r.get_pair("dilation", {1, 1});
  o.groups = r.get_positive("groups", 1);
  o.bias = r.get_bool("bias", true);
  o.weight_init = r.get_init("weight", Init{});
  o.bias_init = r.get_init("bias", Init{});
  if (o.out_channels % o.groups != 0)
    fail(fmt::format("layer '{}': groups={} does not divide out_channels={}", r.name(), o.groups, o.out_channels));
  if (o.in_channels > 0 && o.in_channels % o.groups != 0)
    fail(fmt::format("layer '{}': groups={} does not divide in_channels={}", r.name(), o.groups, o.in_channels));
  return std::make_unique<Conv2d>(r.name(), o);
}

std::unique_ptr<Layer> make_pool(SpecReader& r, Pool2d::Kind kind) {
  Pool2dShape w;
  if (!r.has("kernel")) r.bad("kernel", "a positive integer or a list of two (required)");
  std::tie(w.kernel_h, w.kernel_w) = r.get_pair("kernel", {1, 1});
  std::tie(w.stride_h, w.stride_w) = r.get_pair("stride", {w.kernel_h, w.kernel_w});
  std::tie(w.pad_h, w.pad_w) = r.get_pair("pad", {0, 0}, /*allow_zero=*/true);
  if (kind == Pool2d::Kind::Avg) w.count_include_pad = r.get_bool("count_include_pad", true);
  w.ceil_mode = r.get_bool("ceil_mode", false);
  if (2 * w.pad_h > w.kernel_h || 2 * w.pad_w > w.kernel_w)
    fail(fmt::format("layer '{}': 'pad' must be at most half the kernel {}x{}, got [{}, {}]", r.name(), w.kernel_h,
                     w.kernel_w, w.pad_h, w.pad_w));
  return std::make_unique<Pool2d>(r.name(), kind, w);
}
std::unique_ptr<Layer> make_maxpool(SpecReader& r) { return make_pool(r, Pool2d::Kind::Max); }
std::unique_ptr<Layer> make_adaptive_avgpool(SpecReader& r) {
  const auto [h, w] = r.get_pair("output_size", {1, 1});
  return std::make_unique<Pool2d>(r.name(), h, w);
}
std::unique_ptr<Layer> make_avgpool(SpecReader& r) { return make_pool(r, Pool2d::Kind::Avg); }

std::unique_ptr<Layer> make_lrn(SpecReader& r) {
  LrnShape p;
  p.size = r.get_positive("size", 5);
  p.alpha = static_cast<float>(r.get_double("alpha", 1e-4));
  p.beta = static_cast<float>(r.get_double("beta", 0.75));
  p.k = static_cast<float>(r.get_double("k", 1.0));
  if (!(p.alpha >= 0.0f)) r.bad("alpha", "a number >= 0");
  if (!(p.k > 0.0f)) r.bad("k", "a number > 0");
  return std::make_unique<Lrn>(r.name(), p);
}

template <Activation kind>
std::unique_ptr<Layer> make_activation(SpecReader& r) {
  float param = 0.0f;
  if constexpr (kind == Activation::LeakyRelu) {
    param = static_cast<float>(r.get_double("negative_slope", 0.01));
    if (!(param >= 0.0f)) r.bad("negative_slope", "a number >= 0 (backward reads the output)");
  } else if constexpr (kind == Activation::Elu) {
    param = static_cast<float>(r.get_double("alpha", 1.0));
    if (!(param > 0.0f)) r.bad("alpha", "a number > 0 (backward reads the output)");
  }
  return std::make_unique<ActivationLayer>(r.name(), kind, param);
}

std::unique_ptr<Layer> make_dropout(SpecReader& r) {
  const double p = r.get_double("p", 0.5);
  if (!(p >= 0.0 && p < 1.0)) r.bad("p", "a probability in [0, 1)");
  const bool has_seed = r.has("seed");
  const int64_t seed = r.get_int("seed", 0);
  if (seed < 0) r.bad("seed", "a non-negative integer");
  return std::make_unique<Dropout>(r.name(), static_cast<float>(p), has_seed, static_cast<uint64_t>(seed));
}

std::unique_ptr<Layer> make_flatten(SpecReader& r) {
  return std::make_unique<Flatten>(r.name(), r.get_positive("start_dim", 1));
}

std::unique_ptr<Layer> make_linear(SpecReader& r) {
  LinearOptions o;
  o.out_features = r.require_positive("out_features");
  o.in_features = r.get_positive("in_features", 0, /*allow_zero=*/true);
  o.bias = r.get_bool("bias", true);
  o.weight_init = r.get_init("weight", Init{});
  o.bias_init = r.get_init("bias", Init{});
  return std::make_unique<Linear>(r.name(), o);
}

float loss_weight(SpecReader& r) {
  const double w = r.get_double("loss_weight", 1.0);
  if (!(w >= 0.0 && w < 1e30)) r.bad("loss_weight", "a finite number >= 0");
  return static_cast<float>(w);
}

std::unique_ptr<Layer> make_softmax_xent(SpecReader& r) {
  const int64_t ignore = r.get_int("ignore_label", -100);
  if (ignore < INT32_MIN || ignore > INT32_MAX) r.bad("ignore_label", "a 32-bit integer");
  return std::make_unique<SoftmaxCrossEntropy>(r.name(), static_cast<int32_t>(ignore), loss_weight(r));
}

std::unique_ptr<Layer> make_mse(SpecReader& r) { return std::make_unique<MseLoss>(r.name(), loss_weight(r)); }
std::unique_ptr<Layer> make_bce(SpecReader& r) { return std::make_unique<BceLoss>(r.name(), loss_weight(r)); }
std::unique_ptr<Layer> make_l1(SpecReader& r) {
  return std::make_unique<AbsoluteLoss>(r.name(), AbsoluteLoss::Kind::L1, 0.0f, loss_weight(r));
}
std::unique_ptr<Layer> make_huber(SpecReader& r) {
  const double delta = r.get_double("delta", 1.0);
  if (!(delta > 0.0 && delta < 1e30)) r.bad("delta", "a finite number > 0");
  return std::make_unique<AbsoluteLoss>(r.name(), AbsoluteLoss::Kind::Huber, static_cast<float>(delta), loss_weight(r));
}
template <int kRank>
std::unique_ptr<Layer> make_batchnorm(SpecReader& r) {
  BatchNormOptions o;
  o.rank = kRank;
  o.num_features = r.get_positive("num_features", 0, /*allow_zero=*/true);
  const double eps = r.get_double("eps", 1e-5), momentum = r.get_double("momentum", 0.1);
  if (!(eps > 0.0 && eps < 1.0)) r.bad("eps", "a number in (0, 1)");
  if (!(momentum >= 0.0 && momentum <= 1.0)) r.bad("momentum", "a number in [0, 1]");
  o.eps = static_cast<float>(eps);
  o.momentum = static_cast<float>(momentum);
  o.affine = r.get_bool("affine", true);
  o.track_running_stats = r.get_bool("track_running_stats", true);
  return std::make_unique<BatchNorm>(r.name(), o);
}

std::unique_ptr<Layer> make_add(SpecReader& r) { return std::make_unique<Add>(r.name()); }
std::unique_ptr<Layer> make_concat(SpecReader& r) {
  const int64_t axis = r.get_int("axis", 1);
  if (axis != 1) r.bad("axis", "1 (only the channel axis is supported)");
  return std::make_unique<Concat>(r.name());
}

// The keys LSTM, GRU and RNN share (layers/recurrent.h).
RecurrentOptions recurrent_options(SpecReader& r, RecurrentMode mode) {
  RecurrentOptions o;
  o.mode = mode;
  o.hidden_size = r.require_positive("hidden_size");
  o.input_size = r.get_positive("input_size", 0, /*allow_zero=*/true);
  o.num_layers = r.get_positive("num_layers", 1);
  o.batch_first = r.get_bool("batch_first", true);
  o.bias = r.get_bool("bias", true);
  o.bidirectional = r.get_bool("bidirectional", false);
  o.stateful = r.get_bool("stateful", false);
  // The reverse direction reads each chunk from its end: no state of it carries to the next chunk.
  if (o.stateful && o.bidirectional) r.bad("stateful", "false when bidirectional = true (the reverse direction "
                                                      "reads each chunk from its end, so it has no state to carry)");
  return o;
}

std::unique_ptr<Layer> make_lstm(SpecReader& r) {
  RecurrentOptions o = recurrent_options(r, RecurrentMode::Lstm);
  o.forget_bias = static_cast<float>(r.get_double("forget_bias", 0.0));
  return std::make_unique<Recurrent>(r.name(), o);
}

std::unique_ptr<Layer> make_gru(SpecReader& r) {
  return std::make_unique<Recurrent>(r.name(), recurrent_options(r, RecurrentMode::Gru));
}

std::unique_ptr<Layer> make_rnn(SpecReader& r) {
  const std::string nonlinearity = r.get_string("nonlinearity", "tanh");
  if (nonlinearity != "tanh" && nonlinearity != "relu") r.bad("nonlinearity", "\"tanh\" or \"relu\"");
  return std::make_unique<Recurrent>(
      r.name(), recurrent_options(r, nonlinearity == "relu" ? RecurrentMode::RnnRelu : RecurrentMode::RnnTanh));
}

std::unique_ptr<Layer> make_embedding(SpecReader& r) {
  const int v = r.require_positive("num_embeddings");
  const int d = r.require_positive("embedding_dim");
  return std::make_unique<Embedding>(r.name(), v, d, r.get_init("weight", Init{InitKind::Normal, 1.0}));
}

std::unique_ptr<Layer> make_time_flatten(SpecReader& r) { return std::make_unique<TimeFlatten>(r.name()); }

struct Entry {
  const char* type;
  Factory make;
};

// THE table, sorted by name.
constexpr Entry kLayers[] = {
    {"AdaptiveAvgPool2d", make_adaptive_avgpool},
    {"Add", make_add},
    {"AvgPool2d", make_avgpool},
    {"BCELoss", make_bce},
    {"BatchNorm1d", make_batchnorm<2>},
    {"BatchNorm2d", make_batchnorm<4>},
    {"Concat", make_concat},
    {"Conv2d", make_conv2d},
    {"Dropout", make_dropout},
    {"ELU", make_activation<Activation::Elu>},
    {"Embedding", make_embedding},
    {"Flatten", make_flatten},
    {"GRU", make_gru},
    {"HuberLoss", make_huber},
    {"L1Loss", make_l1},
    {"LRN", make_lrn},
    {"LSTM", make_lstm},
    {"RNN", make_rnn},
    {"LeakyReLU", make_activation<Activation::LeakyRelu>},
    {"Linear", make_linear},
    {"MSELoss", make_mse},
    {"MaxPool2d", make_maxpool},
    {"ReLU", make_activation<Activation::Relu>},
    {"Sigmoid", make_activation<Activation::Sigmoid>},
    {"SoftmaxCrossEntropy", make_softmax_xent},
    {"Tanh", make_activation<Activation::Tanh>},
    {"TimeFlatten", make_time_flatten},
};

}  // namespace

std::vector<std::string> layer_types() {
  std::vector<std::string> out;
  for (const Entry& e : kLayers) out.emplace_back(e.type);
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Layer> make_layer(const LayerSpec& spec) {
  KILN_CHECK(!spec.name.empty(), "a layer of type '{}' has no name", spec.type);
  for (const Entry& e : kLayers) {
    if (spec.type != e.type) continue;
    SpecReader reader(spec);
    std::unique_ptr<Layer> layer = e.make(reader);
    reader.finish(e.type);
    return layer;
  }
  fail(fmt::format("layer '{}': unknown layer type '{}' (known: {})", spec.name, spec.type, fmt::join(layer_types(), ", ")));
}

Net build_net(const std::vector<NetInput>& inputs, const std::vector<LayerSpec>& specs, Device device) {
  Net net(device);
  for (const NetInput& in : inputs) net.add_input(in.name, in.dtype);
  for (const LayerSpec& spec : specs) net.add(make_layer(spec), spec.inputs);
  return net;
}

}  // namespace kiln::layers
