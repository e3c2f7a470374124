// `kiln sample CONFIG --weights FILE --prompt TEXT --length N [--temperature T] [--seed S]`:
// text from a trained language model, character-level ([data] source = "text",
// models/char_lstm.toml) or word-level (source = "words", models/word_lstm.toml).
//
// Vocabulary. The one `kiln train` stored in the checkpoint (tools/train/checkpoint.h), so the
// training text is not needed; for a checkpoint without one (an older one, or plain safetensors)
// it is rebuilt from the config's [data] files (deterministic: the same files give the same ids).
// It must be of the config's kind and no larger than the model's output.
//
// Tokens. Characters: the prompt is read one code point at a time (a character outside the
// vocabulary is an error naming it); an empty prompt starts from a newline (the start of a line),
// which is not printed. Words: the prompt is split as the training text was
// (kiln::data::tokenize_words, lower-cased as [data] lower_case says, default true), words outside
// the vocabulary read as <unk>; <eos> is fed first, as it starts every training line. Generated
// words are joined by single spaces, with none before closing punctuation (. , ! ? ; : ) ] } ' and
// the like) or after an opening bracket; <eos> prints as a newline and <pad> is never drawn (nor
// <unk> with --no-unk). Each line starts from zero states, as each training line did (stateful
// layers excepted).
// --length counts tokens: characters, or words (a punctuation mark and <eos> count as one).
//
// How. The config's layers, without the loss, are built again as a one-step net: "data" is (1, 1)
// int32 and every LSTM (RNN) layer gets its initial states h0, c0 (h0) as extra net inputs, fed
// each step with the final states of the step before; a stateful layer carries them itself (from
// zeros: the training run's carried state is not used). A bidirectional layer is refused (it
// would need the text after the token it predicts). So the prompt is read one token at a time and each new
// token costs one step of the net (the state is carried, the prefix is never re-run). The next
// token is drawn from softmax(logits / T) over the vocabulary (T = 0: the most likely one) with a
// Philox uniform keyed by (seed, step), so the same seed gives the same text on any machine and
// device.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>
#include <unordered_map>

#include "core/config/config.h"
#include "core/data/text.h"
#include "core/data/words.h"
#include "core/error.h"
#include "core/log.h"
#include "core/philox.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_sources.h"
#include "layers/recurrent.h"
#include "layers/registry.h"
#include "tools/commands.h"

namespace kiln::cli {
namespace {

using data::WordVocabulary;

struct SampleArgs {
  std::string config, weights, prompt, device = "cpu";
  int64_t length = 200;
  double temperature = 1.0;
  int64_t seed = 1;
  bool no_unk = false;  // word models: never draw <unk>
};

// The states of a recurrent layer that the sampler carries from step to step (a stateful layer
// carries its own).
struct RecurrentState {
  std::string layer, h_input, c_input;  // c_input empty: an RNN, which has no cell state
  Shape shape;   // (num_layers, 1, H)
  Tensor h, c;   // fed as h0, c0
};

// What the model's ids stand for, and how text maps to them.
struct Tokens {
  bool words = false;
  bool lower_case = true;                              // words: how the prompt is split
  std::vector<std::string> strings;                    // id -> token (UTF-8)
  data::Vocabulary chars;                              // characters: code point -> id
  std::unordered_map<std::string, int32_t> word_ids;   // words: word -> id
  int size() const { return static_cast<int>(strings.size()); }
};

// [data] source of a language model ("text" or "words"); anything else is refused.
std::string language_model_source(const RunConfig& config) {
  const std::string source = TableReader(config.data).string("source");
  KILN_CHECK(source == "text" || source == "words",
             "{}: kiln sample needs a language model ([data] source = \"text\" or \"words\"), not source = \"{}\"",
             config.path, source);
  return source;
}

// The checkpoint's vocabulary, else (none stored) the one the config's [data] files give.
// `origin` names where it came from, for messages.
data::Dataset::TokenVocabulary model_vocabulary(const RunConfig& config, const std::string& weights,
                                                std::string& origin) {
  data::Dataset::TokenVocabulary v = read_checkpoint_vocabulary(weights);
  origin = weights;
  if (!v.tokens.empty()) return v;
  log::info("'{}' holds no vocabulary: rebuilding it from the [data] files of {}", weights, config.path);
  origin = config.path;
  return make_datasets(config).train->token_vocabulary();
}

// Characters: one code point per token, in code-point order (what data::Vocabulary builds), so
// data::Vocabulary maps (and names unknown characters) exactly as for the training text.
void index_characters(Tokens& t, const std::string& origin) {
  std::u32string all;
  for (const std::string& s : t.strings) {
    const std::u32string c = data::decode_utf8(s);
    KILN_CHECK(c.size() == 1, "'{}': character vocabulary entry \"{}\" is not one character", origin, s);
    all += c;
  }
  t.chars = data::Vocabulary::build(all);
  const std::vector<char32_t>& sorted = t.chars.symbols();
  KILN_CHECK(std::equal(sorted.begin(), sorted.end(), all.begin(), all.end()),
             "'{}': the character vocabulary is not distinct characters in code-point order", origin);
}

void index_words(Tokens& t, const std::string& origin) {
  KILN_CHECK(t.size() > WordVocabulary::kEos && t.strings[WordVocabulary::kPad] == "<pad>" &&
                 t.strings[WordVocabulary::kUnk] == "<unk>" && t.strings[WordVocabulary::kEos] == "<eos>",
             "'{}': a words vocabulary must start with <pad> <unk> <eos>", origin);
  for (int32_t id = 0; id < t.size(); ++id) t.word_ids.emplace(t.strings[static_cast<size_t>(id)], id);
}

Tokens make_tokens(const RunConfig& config, const std::string& source, const std::string& weights) {
  std::string origin;
  data::Dataset::TokenVocabulary v = model_vocabulary(config, weights, origin);
  const std::string kind = source == "words" ? "words" : "characters";
  KILN_CHECK(v.kind == kind, "'{}' holds a vocabulary of {}, but {} is a model of {} ([data] source = \"{}\")", origin,
             v.kind, config.path, kind, source);
  Tokens t;
  t.words = source == "words";
  if (t.words) t.lower_case = TableReader(config.data).boolean("lower_case", true);
  t.strings = std::move(v.tokens);
  if (t.words) {
    index_words(t, origin);
  } else {
    index_characters(t, origin);
  }
  return t;
}

// The ids the prompt feeds (see the header comment).
std::vector<int32_t> encode_prompt(const Tokens& t, const std::string& prompt) {
  if (!t.words) return t.chars.encode(data::decode_utf8(prompt.empty() ? std::string("\n") : prompt));
  std::vector<int32_t> ids;
  for (const std::string& w : data::tokenize_words(data::decode_utf8(prompt), t.lower_case)) {
    auto it = t.word_ids.find(w);
    ids.push_back(it == t.word_ids.end() ? WordVocabulary::kUnk : it->second);
  }
  const auto unknown = std::count(ids.begin(), ids.end(), WordVocabulary::kUnk);
  if (unknown > 0)
    log::info("{} of the prompt's {} words are not in the vocabulary: read as <unk>", unknown, ids.size());
  ids.insert(ids.begin(), WordVocabulary::kEos);  // a line starts with <eos>, as in training
  return ids;
}

bool closing_punctuation(std::string_view w) {
  static const std::set<std::string_view> kClosing = {".", ",", "!", "?", ";", ":", ")",
                                                      "]", "}", "'", "%", "…", "’", "”"};
  return kClosing.count(w) != 0;
}

// Appends token `id` to the text: a character as it is; a word after a space, except at the start
// of a line, after an opening bracket and before closing punctuation; <eos> as a newline.
void append_token(const Tokens& t, int32_t id, std::string& text) {
  const std::string& token = t.strings[static_cast<size_t>(id)];
  if (!t.words) {
    text += token;
  } else if (id == WordVocabulary::kEos) {
    text += '\n';
  } else {
    const bool glued = text.empty() || std::string_view(" \n\t([{").find(text.back()) != std::string_view::npos;
    if (!glued && !closing_punctuation(token)) text += ' ';
    text += token;
  }
}

// Index of the next token: softmax(logits / temperature) restricted to the classes [first, end),
// inverted at a Philox uniform.
int32_t draw(const std::vector<float>& logits, int first, int end, double temperature, uint64_t seed, uint64_t step) {
  const auto lo = logits.begin() + first, hi = logits.begin() + end;
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(lo, hi) - logits.begin());
  const double top = *std::max_element(lo, hi);
  std::vector<double> p(static_cast<size_t>(end));
  double sum = 0;
  for (int i = first; i < end; ++i)
    sum += p[static_cast<size_t>(i)] = std::exp((logits[static_cast<size_t>(i)] - top) / temperature);
  const double u = static_cast<double>(uniform_from_u32(philox_u32(seed, 0, step))) * sum;
  double acc = 0;
  for (int i = first; i < end; ++i) {
    acc += p[static_cast<size_t>(i)];
    if (u < acc) return i;
  }
  return end - 1;
}

// Adds h0 (and c0) net inputs for a recurrent layer that does not carry its states itself.
void add_state_inputs(const layers::Recurrent& rnn, const std::string& name, Net& net, std::vector<std::string>& inputs,
                      std::vector<RecurrentState>& states) {
  RecurrentState s{name, name + ".h0", rnn.lstm() ? name + ".c0" : "",
                   Shape{rnn.options().num_layers, 1, rnn.options().hidden_size}, {}, {}};
  for (const std::string& input : {s.h_input, s.c_input}) {
    if (input.empty()) continue;
    net.add_input(input);
    inputs.push_back(input);
  }
  s.h = Tensor::zeros(s.shape, net.device());
  if (rnn.lstm()) s.c = Tensor::zeros(s.shape, net.device());
  states.push_back(std::move(s));
}

// The config's layers without the loss as a one-step net (see "How" above); returns the name of
// the logits layer.
std::string build_step_net(const RunConfig& config, Net& net, std::vector<RecurrentState>& states) {
  net.add_input("data", DType::I32);
  std::string previous = "data";
  for (const LayerSpec& spec : config.layers) {
    std::unique_ptr<Layer> layer = layers::make_layer(spec);
    if (layer->is_loss()) continue;
    std::vector<std::string> inputs = spec.inputs.empty() ? std::vector<std::string>{previous} : spec.inputs;
    if (const auto* rnn = dynamic_cast<const layers::Recurrent*>(layer.get())) {
      KILN_CHECK(rnn->options().batch_first, "{}: kiln sample needs batch_first recurrent layers ('{}')", config.path,
                 spec.name);
      KILN_CHECK(!rnn->options().bidirectional, "{}: kiln sample generates left to right, but '{}' is bidirectional",
                 config.path, spec.name);
      if (!rnn->options().stateful && inputs.size() == 1) add_state_inputs(*rnn, spec.name, net, inputs, states);
    }
    net.add(std::move(layer), inputs);
    previous = spec.name;
  }
  std::map<std::string, Shape> shapes{{"data", Shape{1, 1}}};
  for (const RecurrentState& s : states) {
    shapes[s.h_input] = s.shape;
    if (!s.c_input.empty()) shapes[s.c_input] = s.shape;
  }
  net.setup(shapes);
  return previous;
}

// A word model's training lines each start from zero states (core/data/words.h), so a new line
// (<eos>) does too. Stateful layers keep theirs: they were trained carrying across lines.
void restart_line(std::vector<RecurrentState>& states) {
  for (RecurrentState& s : states) {
    s.h = Tensor::zeros(s.shape, s.h.device());
    if (!s.c_input.empty()) s.c = Tensor::zeros(s.shape, s.c.device());
  }
}

int run_sample(const SampleArgs& a) {
  const RunConfig config = load_config(a.config);
  KILN_CHECK(a.length >= 0, "--length {} must be >= 0", a.length);
  const std::string source = language_model_source(config);
  const Tokens tokens = make_tokens(config, source, a.weights);

  const Device device = select_device(a.device);
  Net net(device);
  std::vector<RecurrentState> states;
  const std::string logits = build_step_net(config, net, states);
  const int64_t classes = net.shape_of(logits).numel();
  KILN_CHECK(tokens.size() <= classes, "{}: the model's output '{}' has {} classes, the vocabulary of '{}' {}",
             config.path, logits, classes, a.weights, tokens.size());
  load_weights(a.weights, net);
  net.reset_state();  // stateful layers start from zeros, as the state inputs do
  net.set_training(false);
  net.keep(logits);

  // One step: feed `id`, carry the states, return the logits of the next token.
  auto step = [&](int32_t id) {
    if (tokens.words && id == WordVocabulary::kEos) restart_line(states);
    const Tensor x = Tensor::from_host(std::span<const int32_t>(&id, 1), Shape{1, 1}, device);
    std::map<std::string, const Tensor*> feeds{{"data", &x}};
    for (const RecurrentState& s : states) {
      feeds[s.h_input] = &s.h;
      if (!s.c_input.empty()) feeds[s.c_input] = &s.c;
    }
    net.forward(feeds);
    for (RecurrentState& s : states) {
      const auto& rnn = dynamic_cast<const layers::Recurrent&>(net.layer(s.layer));
      s.h = Tensor::from_host(std::span<const float>(rnn.final_h().to_host()), s.shape, device);
      if (!s.c_input.empty())
        s.c = Tensor::from_host(std::span<const float>(rnn.final_c().to_host()), s.shape, device);
    }
    return net.output(logits).to_host();
  };

  std::vector<float> out;
  for (int32_t id : encode_prompt(tokens, a.prompt)) out = step(id);
  KILN_CHECK(!a.no_unk || tokens.words, "--no-unk is for word-level models; '{}' is a character-level one",
             a.config);
  // <pad> is never drawn, nor <unk> with --no-unk (ids 0 and 1: the draw starts past them).
  const int first = !tokens.words ? 0 : a.no_unk ? WordVocabulary::kUnk + 1 : WordVocabulary::kPad + 1;
  std::string text = a.prompt;
  for (int64_t i = 0; i < a.length; ++i) {
    const int32_t id =
        draw(out, first, tokens.size(), a.temperature, static_cast<uint64_t>(a.seed), static_cast<uint64_t>(i));
    append_token(tokens, id, text);
    if (i + 1 < a.length) out = step(id);
  }
  fmt::print("{}\n", text);
  return 0;
}

}  // namespace

void add_sample_command(CLI::App& app, Action* action) {
  auto args = std::make_shared<SampleArgs>();
  CLI::App* cmd = app.add_subcommand("sample", "Generate text with a trained character- or word-level language model");
  cmd->add_option("config", args->config, "Model config (TOML) with [data] source = \"text\" or \"words\"")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->weights,
                  "Parameters (a kiln checkpoint, which holds the vocabulary too, or safetensors)")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--prompt", args->prompt, "Text to start from (printed first); empty: the start of a line");
  cmd->add_option("--length", args->length, "Tokens to generate: characters, or words and punctuation marks")
      ->capture_default_str()->check(integer_in(0, kMaxIntFlag));
  cmd->add_option("--temperature", args->temperature, "Softmax temperature; 0: always the most likely")
      ->capture_default_str()->check(number_in(0.0, 1e6));
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str()
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  cmd->add_flag("--no-unk", args->no_unk, "Word models: never draw <unk> (the words outside the vocabulary)");
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return run_sample(*args); }; });
}

}  // namespace kiln::cli
