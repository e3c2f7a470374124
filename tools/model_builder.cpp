#include "tools/model_builder.h"

#include <fmt/format.h>

#include "core/error.h"
#include "layers/registry.h"
#include "tools/train/data_sources.h"

namespace kiln::cli {

BuiltNet build_model(const RunConfig& config, Device device) {
  BuiltNet built{Net(device), "", ""};
  Net& net = built.net;
  // A model that starts with an Embedding reads token ids (a language model on text data).
  const bool tokens = !config.layers.empty() && config.layers.front().type == "Embedding";
  net.add_input("data", tokens ? DType::I32 : DType::F32);
  // Regression data ([data] task = "regression", or target = "input") feeds float targets (N, T) as the label.
  net.add_input("label", float_targets(config) ? DType::F32 : DType::I32);
  // Sequence-to-sequence pairs also feed the decoder's inputs (teacher forcing).
  if (TableReader(config.data).string("source", "") == "pairs") net.add_input("decoder_input", DType::I32);
  std::string previous = "data";
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerSpec& spec = config.layers[i];
    const int line = i < config.layer_lines.size() ? config.layer_lines[i] : 0;
    if (!built.loss.empty()) {
      // Layers are added in file order, so nothing after the loss can feed it: such a layer would
      // train on nothing or read the loss value, never what the model means.
      fail(fmt::format("{}:{}: layer '{}' comes after the loss layer '{}': the loss must be the last [[layer]]",
                       config.path, line, spec.name, built.loss));
    }
    try {
      std::unique_ptr<Layer> layer = layers::make_layer(spec);
      std::vector<std::string> inputs = spec.inputs;
      if (layer->is_loss()) {
        KILN_CHECK(built.loss.empty(), "a second loss layer; kiln train supports one ('{}' is the first)", built.loss);
        if (inputs.empty()) inputs = {previous, "label"};
        built.loss = spec.name;
        built.logits = inputs.front();
      } else if (inputs.empty()) {
        inputs = {previous};
      }
      net.add(std::move(layer), inputs);
    } catch (const Error& e) {
      // Layer errors already name the layer ("layer 'conv1': ..."); add where it is in the file.
      const std::string& m = e.message();
      fail(m.starts_with("layer '") ? fmt::format("{}:{}: {}", config.path, line, m)
                                    : fmt::format("{}:{}: layer '{}': {}", config.path, line, spec.name, m));
    }
    previous = spec.name;
  }
  if (built.loss.empty()) {
    fail(fmt::format("{}: the model has no loss layer: add a [[layer]] with type = \"SoftmaxCrossEntropy\" at the end",
                     config.path));
  }
  net.keep(built.logits);  // accuracy reads the logits after forward
  return built;
}

}  // namespace kiln::cli
