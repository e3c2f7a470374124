// `kiln sample CONFIG --weights FILE --prompt TEXT --length N [--temperature T] [--seed S]`:
// text from a trained character-level language model (models/char_lstm.toml).
//
// How. The vocabulary is rebuilt from the config's [data] text (it is deterministic: the sorted
// code points of the same files). The config's layers, without the loss, are built again as a
// one-step net: "data" is (1, 1) int32 and every LSTM layer gets its initial states h0, c0 as
// extra net inputs, fed each step with the final states of the step before. So the prompt is
// read one character at a time and each new character costs one step of the net (the state is
// carried, the prefix is never re-run). The next character is drawn from softmax(logits / T)
// over the vocabulary (T = 0: the most likely one) with a Philox uniform keyed by (seed, step),
// so the same seed gives the same text on any machine and device.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/config/config.h"
#include "core/data/text.h"
#include "core/error.h"
#include "core/log.h"
#include "core/philox.h"
#include "core/train/checkpoint.h"
#include "core/train/data_sources.h"
#include "layers/recurrent.h"
#include "layers/registry.h"
#include "tools/commands.h"

namespace kiln::cli {
namespace {

struct SampleArgs {
  std::string config, weights, prompt, device = "cpu";
  int64_t length = 200;
  double temperature = 1.0;
  int64_t seed = 1;
};

struct LstmState {
  std::string layer, h_input, c_input;
  Shape shape;   // (num_layers, 1, H)
  Tensor h, c;   // fed as h0, c0
};

// Index of the next character: softmax(logits / temperature) restricted to the first `vocab`
// classes, inverted at a Philox uniform.
int32_t draw(const std::vector<float>& logits, int vocab, double temperature, uint64_t seed, uint64_t step) {
  const auto first = logits.begin(), last = logits.begin() + vocab;
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(first, last) - first);
  const double top = *std::max_element(first, last);
  std::vector<double> p(static_cast<size_t>(vocab));
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += p[static_cast<size_t>(i)] = std::exp((logits[static_cast<size_t>(i)] - top) / temperature);
  const double u = static_cast<double>(uniform_from_u32(philox_u32(seed, 0, step))) * sum;
  double acc = 0;
  for (int i = 0; i < vocab; ++i) {
    acc += p[static_cast<size_t>(i)];
    if (u < acc) return i;
  }
  return vocab - 1;
}

int run_sample(const SampleArgs& a) {
  const RunConfig config = load_config(a.config);
  KILN_CHECK(a.length >= 0, "--length {} must be >= 0", a.length);
  const DataSplits data = make_datasets(config);
  const auto* text = dynamic_cast<const data::TextDataset*>(data.train.get());
  KILN_CHECK(text != nullptr, "{}: kiln sample needs a language model on text ([data] source = \"text\"), not {}",
             config.path, data.train->describe());
  const data::Vocabulary& vocab = text->corpus().vocabulary();

  const Device device = select_device(a.device);
  Net net(device);
  net.add_input("data", DType::I32);
  std::vector<LstmState> states;
  std::string previous = "data";
  for (const LayerSpec& spec : config.layers) {
    std::unique_ptr<Layer> layer = layers::make_layer(spec);
    if (layer->is_loss()) continue;
    std::vector<std::string> inputs = spec.inputs.empty() ? std::vector<std::string>{previous} : spec.inputs;
    if (const auto* lstm = dynamic_cast<const layers::Lstm*>(layer.get()); lstm && inputs.size() == 1) {
      KILN_CHECK(lstm->options().batch_first, "{}: kiln sample needs batch_first LSTMs ('{}')", config.path, spec.name);
      LstmState s{spec.name, spec.name + ".h0", spec.name + ".c0",
                  Shape{lstm->options().num_layers, 1, lstm->options().hidden_size}, {}, {}};
      net.add_input(s.h_input);
      net.add_input(s.c_input);
      inputs.push_back(s.h_input);
      inputs.push_back(s.c_input);
      s.h = Tensor::zeros(s.shape, device);
      s.c = Tensor::zeros(s.shape, device);
      states.push_back(std::move(s));
    }
    net.add(std::move(layer), inputs);
    previous = spec.name;
  }
  const std::string logits = previous;
  std::map<std::string, Shape> shapes{{"data", Shape{1, 1}}};
  for (const LstmState& s : states) {
    shapes[s.h_input] = s.shape;
    shapes[s.c_input] = s.shape;
  }
  net.setup(shapes);
  load_weights(a.weights, net);
  net.set_training(false);
  net.keep(logits);

  // One step: feed `id`, carry the states, return the logits of the next character.
  auto step = [&](int32_t id) {
    const Tensor x = Tensor::from_host(std::span<const int32_t>(&id, 1), Shape{1, 1}, device);
    std::map<std::string, const Tensor*> feeds{{"data", &x}};
    for (const LstmState& s : states) {
      feeds[s.h_input] = &s.h;
      feeds[s.c_input] = &s.c;
    }
    net.forward(feeds);
    for (LstmState& s : states) {
      const auto& lstm = dynamic_cast<const layers::Lstm&>(net.layer(s.layer));
      s.h = Tensor::from_host(std::span<const float>(lstm.final_h().to_host()), s.shape, device);
      s.c = Tensor::from_host(std::span<const float>(lstm.final_c().to_host()), s.shape, device);
    }
    const std::vector<float> out = net.output(logits).to_host();
    KILN_CHECK(static_cast<int>(out.size()) >= vocab.size(), "{}: the model's output '{}' has {} classes, the vocabulary {}",
               config.path, logits, out.size(), vocab.size());
    return out;
  };

  // An empty prompt starts from a newline (the start of a line), which is not printed.
  const std::u32string prompt = data::decode_utf8(a.prompt.empty() ? std::string("\n") : a.prompt);
  std::vector<float> out;
  for (char32_t c : prompt) out = step(vocab.id(c));
  std::string generated;
  for (int64_t i = 0; i < a.length; ++i) {
    const int32_t id = draw(out, vocab.size(), a.temperature, static_cast<uint64_t>(a.seed), static_cast<uint64_t>(i));
    generated += data::encode_utf8(vocab.symbol(id));
    if (i + 1 < a.length) out = step(id);
  }
  fmt::print("{}{}\n", a.prompt, generated);
  return 0;
}

}  // namespace

void add_sample_command(CLI::App& app, Action* action) {
  auto args = std::make_shared<SampleArgs>();
  CLI::App* cmd = app.add_subcommand("sample", "Generate text with a trained character-level language model");
  cmd->add_option("config", args->config, "Model config (TOML) with [data] source = \"text\"")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->weights, "Parameters (a kiln checkpoint or safetensors)")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--prompt", args->prompt, "Text to start from (printed first)");
  cmd->add_option("--length", args->length, "Characters to generate")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", args->temperature, "Softmax temperature; 0: always the most likely")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return run_sample(*args); }; });
}

}  // namespace kiln::cli
