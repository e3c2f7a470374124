// kiln::LayerSpec: a layer described as data (type, name, inputs, key/value parameters), the form a
// config file (TOML) fills and the layer registry (layers/registry.h) turns into a Layer.
//
//   LayerSpec{.type = "Conv2d", .name = "conv1", .inputs = {},
//             .params = {{"out_channels", 20}, {"kernel", 5}}}
//
// inputs: names of net inputs or of other layers; empty = the previous layer's output (or the first
// net input for the first layer), so a plain list of specs is a sequential net.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kiln {

// One parameter value: int, double, bool, string or a list of ints ("kernel = [3, 5]").
using Value = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

// "3", "0.5", "true", "\"relu\"", "[3, 5]".
std::string value_str(const Value& value);
// "int", "float", "bool", "string", "list of ints".
const char* value_type_name(const Value& value);

struct LayerSpec {
  std::string type;                     // registry name: "Conv2d", "ReLU", ...
  std::string name;                     // unique within the net: "conv1"
  std::vector<std::string> inputs;      // empty: the previous layer (sequential)
  std::map<std::string, Value> params;  // layer-specific keys, checked by the layer
};

}  // namespace kiln
