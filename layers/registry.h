// The layer registry: an explicit table from type name to factory (no static initialisers, which
// vanish when static libraries are linked), and the Net builder for a list of LayerSpecs.
//
//   auto conv = kiln::layers::make_layer({.type = "Conv2d", .name = "conv1",
//                                         .params = {{"out_channels", int64_t{20}}, {"kernel", int64_t{5}}}});
//   make_layer({.type = "Conv", ...})  -> kiln::Error "layer 'c': unknown layer type 'Conv' (known:
//                                         AvgPool2d, Concat, Conv2d, ...)"
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config/layer_spec.h"
#include "layers/net.h"

namespace kiln::layers {

// A layer from its spec; errors name the layer and the key.
std::unique_ptr<Layer> make_layer(const LayerSpec& spec);
// The registered type names, sorted.
std::vector<std::string> layer_types();

struct NetInput {
  std::string name;
  DType dtype = DType::F32;
};

// A Net on `device` with the given inputs and one layer per spec (in order; a spec without inputs
// reads the previous layer).
Net build_net(const std::vector<NetInput>& inputs, const std::vector<LayerSpec>& specs, Device device = Device::cpu());

}  // namespace kiln::layers
