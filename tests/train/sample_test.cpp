// Checkpoints carry what a language model needs after training (tools/train/checkpoint.h): the
// vocabulary (so `kiln sample` needs no training text) and the state stateful layers carry between
// steps (so a resumed truncated-BPTT run continues exactly); and `kiln sample` on word-level
// models (tools/cli_sample.cpp).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/data/text.h"
#include "core/data/words.h"
#include "tools/train/checkpoint.h"
#include "tools/train/solver.h"
#include "tests/common/run_command.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

// A stateless layer: y = x.
class Copy : public Layer {
 public:
  using Layer::Layer;
  const char* type() const override { return "Copy"; }
  Shape output_shape(const std::vector<Shape>& in, const std::vector<DType>&) const override { return in[0]; }
  Tensor forward(const std::vector<const Tensor*>& in, const Stream&) override {
    return Tensor::from_host(std::span<const float>(in[0]->to_host()), in[0]->shape());
  }
  void backward(const BackwardArgs&) override {}
};

// A stateful layer: y = x + h, then h = y (a running sum carried from one forward to the next).
class Carry : public Copy {
 public:
  using Copy::Copy;
  const char* type() const override { return "Carry"; }
  Tensor forward(const std::vector<const Tensor*>& in, const Stream&) override {
    std::vector<float> y = in[0]->to_host();
    if (h_.defined()) {
      const std::vector<float> h = h_.to_host();
      for (size_t i = 0; i < y.size(); ++i) y[i] += h[i];
    }
    h_ = Tensor::from_host(std::span<const float>(y), in[0]->shape());
    return Tensor::from_host(std::span<const float>(y), in[0]->shape());
  }
  void reset_state() override { h_ = Tensor(); }
  std::map<std::string, const Tensor*> carried_state() const override {
    if (!h_.defined()) return {};
    return {{"h", &h_}};
  }
  void set_carried_state(const std::string& key, Tensor value) override {
    if (key != "h") return Layer::set_carried_state(key, std::move(value));
    h_ = std::move(value);
  }

 private:
  Tensor h_;
};

template <class L>
Net one_layer_net() {
  Net net(Device::cpu());
  net.add_input("data");
  net.add(std::make_unique<L>("carry"));
  net.setup({{"data", Shape{2, 3}}});
  return net;
}

const std::vector<float> kX = {1, 2, 3, 4, 5, 6};

std::vector<float> forward(Net& net) {
  const Tensor x = Tensor::from_host(std::span<const float>(kX), Shape{2, 3});
  net.forward({{"data", &x}});
  return net.output("carry").to_host();
}

std::vector<float> times(float k) {
  std::vector<float> out = kX;
  for (float& v : out) v *= k;
  return out;
}

const data::Dataset::TokenVocabulary kWords{"words", {"<pad>", "<unk>", "<eos>", "the", "caf\u00e9", "\"", "."}};

std::string save(const TempDir& dir, const std::string& name, Net& net, const data::Dataset::TokenVocabulary& v) {
  Solver solver(SolverConfig{}, net);
  TrainProgress p;
  p.model_hash = 42;
  p.vocabulary = v;
  save_checkpoint(dir.path(name), net, solver, p);
  return dir.path(name);
}

TrainProgress load(const std::string& path, Net& net) {
  Solver solver(SolverConfig{}, net);
  return load_checkpoint(path, net, solver, 42);
}

// Writes `f` to `path`, less the tensors whose names start with `drop` (none when empty).
void write_back(const SafetensorsFile& f, const std::string& path, const std::string& drop = "") {
  std::vector<Tensor> tensors;
  tensors.reserve(f.tensors.size());
  std::vector<NamedTensor> named;
  for (const auto& [name, e] : f.tensors) {
    if (!drop.empty() && name.starts_with(drop)) continue;
    tensors.push_back(Tensor::from_host(std::span<const float>(e.values), e.shape));
    named.push_back({name, &tensors.back()});
  }
  write_safetensors(path, named, f.metadata);
}

// Rewrites a safetensors file with metadata `key` set to `value` (removed when empty).
void set_metadata(const std::string& path, const std::string& key, const std::string& value) {
  SafetensorsFile f = read_safetensors(path);
  if (value.empty()) {
    f.metadata.erase(key);
  } else {
    f.metadata[key] = value;
  }
  write_back(f, path);
}

TEST(CheckpointState, VocabularyAndCarriedStateRoundTrip) {
  TempDir dir;
  Net a = one_layer_net<Carry>();
  const std::string fresh = save(dir, "fresh.safetensors", a, {});  // before any forward: no state
  forward(a);
  EXPECT_EQ(forward(a), times(2));
  const std::string path = save(dir, "ckpt.safetensors", a, kWords);
  const SafetensorsFile file = read_safetensors(path);
  ASSERT_TRUE(file.tensors.count("state.carry.h"));
  EXPECT_EQ(file.tensors.at("state.carry.h").values, times(2));
  EXPECT_EQ(read_safetensors(fresh).tensors.count("state.carry.h"), 0u);

  Net b = one_layer_net<Carry>();
  forward(b);  // some other state, which the checkpoint's replaces
  const TrainProgress p = load(path, b);
  EXPECT_EQ(p.vocabulary.kind, "words");
  EXPECT_EQ(p.vocabulary.tokens, kWords.tokens);
  EXPECT_EQ(forward(b), times(3));  // continues from the saved running sum

  load(fresh, b);  // no state in the checkpoint: zeros, not what b carried
  EXPECT_EQ(forward(b), times(1));
  EXPECT_TRUE(load(fresh, b).vocabulary.tokens.empty());

  const data::Dataset::TokenVocabulary v = read_checkpoint_vocabulary(path);
  EXPECT_EQ(v.kind, "words");
  EXPECT_EQ(v.tokens, kWords.tokens);
  EXPECT_TRUE(read_checkpoint_vocabulary(fresh).tokens.empty());

  // --weights ignores the state like the optimizer's, and leaves the net's own (x, not 2x).
  forward(b);
  load_weights(path, b);
  EXPECT_EQ(forward(b), times(2));
}

TEST(CheckpointState, StateForALayerWithoutStateIsRefusedNamingTheFile) {
  TempDir dir;
  Net a = one_layer_net<Carry>();
  forward(a);
  const std::string path = save(dir, "ckpt.safetensors", a, {});
  Net b = one_layer_net<Copy>();
  const std::string m = error_of([&] { load(path, b); });
  EXPECT_TRUE(contains(m, path)) << m;
  EXPECT_TRUE(contains(m, "carries no state 'h'")) << m;
}

TEST(CheckpointState, MalformedVocabularyIsRefusedNamingTheFile) {
  TempDir dir;
  Net a = one_layer_net<Carry>();
  const std::string path = save(dir, "ckpt.safetensors", a, kWords);
  for (const std::string bad : {"{\"kind\": \"words\", \"tokens\": [1, 2]", R"({"kind": "words", "tokens": [1, 2]})",
                                R"({"kind": "bytes", "tokens": ["a"]})", R"({"kind": "words", "tokens": []})"}) {
    set_metadata(path, "vocabulary", bad);
    Net b = one_layer_net<Carry>();
    const std::string m = error_of([&] { load(path, b); });
    EXPECT_TRUE(contains(m, "'" + path + "'")) << m;
    EXPECT_TRUE(contains(m, "metadata 'vocabulary'")) << m;
    EXPECT_EQ(error_of([&] { read_checkpoint_vocabulary(path); }), m);
  }
}

// --- kiln sample ----------------------------------------------------------------------------

// Lines of "the cat sat on a mat ." from a fixed LCG: 10 words and 2 marks, 16 characters.
std::string tiny_grammar(int lines) {
  const std::vector<std::vector<std::string>> parts = {
      {"the", "a"}, {"cat", "dog"}, {"sat on", "ran to"}, {"the", "a"}, {"mat", "tree"}, {".", "!"}};
  uint64_t state = 777;
  std::string text;
  for (int line = 0; line < lines; ++line) {
    for (size_t k = 0; k < parts.size(); ++k) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      text += (k ? " " : "") + parts[k][(state >> 33) % parts[k].size()];
    }
    text += "\n";
  }
  return text;
}

// `lstm` and `data`: more keys of those sections.
std::string tiny_lm_config(const std::string& source, const std::string& corpus, const std::string& lstm = "",
                           const std::string& data = "", int epochs = 1) {
  return lm_config(
      {.seq_len = 8,
       .vocab = 16,
       .embed = 8,
       .hidden = 16,
       .lstm = lstm,
       .data = fmt::format("source = \"{}\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 0\n{}", source, corpus, data),
       .train = fmt::format("epochs = {}\nbatch = 8\nseed = 3\nlog_every = 1\n", epochs)});
}

struct TrainedLm {
  std::string config, corpus, checkpoint;
};

// Trains a tiny language model on `source` data for a few steps.
TrainedLm train_tiny_lm(const TempDir& dir, const std::string& source) {
  TrainedLm lm{dir.path(source + ".toml"), dir.path("corpus.txt"), ""};
  write_file(lm.corpus, tiny_grammar(200));
  write_file(lm.config, tiny_lm_config(source, lm.corpus));
  TrainOptions options;
  options.out_dir = dir.path("out");
  options.steps = 5;
  lm.checkpoint = run_training(lm.config, options).checkpoint;
  return lm;
}

CommandResult sample(const TrainedLm& lm, const std::string& weights, const std::string& args) {
  return run_command(
      fmt::format("{} --log warn sample {} --weights {} {}", std::string(KILN_BINARY), lm.config, weights, args));
}

TEST(Sample, CharacterModelReadsItsVocabularyFromTheCheckpoint) {
  TempDir dir;
  const TrainedLm lm = train_tiny_lm(dir, "text");
  const data::Dataset::TokenVocabulary v = read_checkpoint_vocabulary(lm.checkpoint);
  EXPECT_EQ(v.kind, "characters");
  EXPECT_EQ(v.tokens.size(), 16u);

  const std::string args = "--prompt 'the ' --length 40 --seed 9";
  const auto with_text = sample(lm, lm.checkpoint, args);
  ASSERT_EQ(with_text.exit_code, 0) << with_text.output;
  // An older checkpoint without a vocabulary: rebuilt from the text, the same ids, the same sample.
  const std::string old = dir.path("old.safetensors");
  std::filesystem::copy_file(lm.checkpoint, old);
  set_metadata(old, "vocabulary", "");
  EXPECT_EQ(sample(lm, old, args).output, with_text.output);

  std::filesystem::remove(lm.corpus);  // the config still names it
  const auto a = sample(lm, lm.checkpoint, args);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, with_text.output);
  ASSERT_TRUE(a.output.starts_with("the ")) << a.output;
  const std::u32string generated = data::decode_utf8(a.output.substr(4, a.output.size() - 5));
  EXPECT_EQ(generated.size(), 40u) << a.output;
  for (char32_t c : generated)
    EXPECT_NE(std::find(v.tokens.begin(), v.tokens.end(), data::encode_utf8(c)), v.tokens.end()) << a.output;

  const auto no_text = sample(lm, old, args);  // neither a stored vocabulary nor the text
  EXPECT_EQ(no_text.exit_code, 1) << no_text.output;
  EXPECT_TRUE(contains(no_text.output, "corpus.txt")) << no_text.output;

  const auto no_unk = sample(lm, lm.checkpoint, args + " --no-unk");
  EXPECT_EQ(no_unk.exit_code, 1) << no_unk.output;
  EXPECT_TRUE(contains(no_unk.output, "--no-unk is for word-level models")) << no_unk.output;
}

// The generated part of a word sample: its tokens (with <unk> as one) and its lines.
std::vector<std::string> sampled_tokens(const std::string& text, const std::string& prompt) {
  EXPECT_TRUE(text.starts_with(prompt)) << text;
  std::string rest = text.substr(prompt.size(), text.size() - prompt.size() - 1);
  for (size_t at; (at = rest.find("<unk>")) != std::string::npos;) rest.replace(at, 5, " xunkx ");
  std::vector<std::string> tokens;
  for (const std::string& t : data::tokenize_words(data::decode_utf8(rest), false))
    tokens.push_back(t == "xunkx" ? "<unk>" : t);
  for (char c : rest)
    if (c == '\n') tokens.push_back("<eos>");
  return tokens;
}

TEST(Sample, WordModelGeneratesWordsOfItsVocabularyReproducibly) {
  TempDir dir;
  const TrainedLm lm = train_tiny_lm(dir, "words");
  const data::Dataset::TokenVocabulary v = read_checkpoint_vocabulary(lm.checkpoint);
  ASSERT_EQ(v.kind, "words");
  ASSERT_EQ(v.tokens.size(), 15u);  // <pad> <unk> <eos>, 10 words, "." and "!"
  const std::set<std::string> vocabulary(v.tokens.begin() + 1, v.tokens.end());
  std::filesystem::remove(lm.corpus);

  // "Zebra" is lower-cased and outside the vocabulary (<unk>); the prompt is printed as given.
  const std::string prompt = "The Zebra";
  const auto a = sample(lm, lm.checkpoint, "--prompt 'The Zebra' --length 30 --seed 4");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  const std::vector<std::string> tokens = sampled_tokens(a.output, prompt);
  EXPECT_EQ(tokens.size(), 30u) << a.output;
  for (const std::string& t : tokens) EXPECT_TRUE(vocabulary.count(t)) << t << " in " << a.output;
  EXPECT_FALSE(contains(a.output, " .") || contains(a.output, " !")) << a.output;  // marks follow their word
  EXPECT_EQ(sample(lm, lm.checkpoint, "--prompt 'The Zebra' --length 30 --seed 4").output, a.output);
  EXPECT_NE(sample(lm, lm.checkpoint, "--prompt 'The Zebra' --length 30 --seed 5").output, a.output);

  // Near-uniform draws over the whole output (temperature 100) still never give <pad>; an empty
  // prompt starts at the beginning of a line.
  const auto hot = sample(lm, lm.checkpoint, "--length 300 --temperature 100 --seed 1");
  ASSERT_EQ(hot.exit_code, 0) << hot.output;
  EXPECT_FALSE(contains(hot.output, "<pad>")) << hot.output;
  EXPECT_EQ(sampled_tokens(hot.output, "").size(), 300u) << hot.output;
  EXPECT_TRUE(contains(hot.output, "<unk>")) << hot.output;  // every other token is drawn
  // --no-unk leaves <unk> out too; it means nothing for a character model.
  const auto known = sample(lm, lm.checkpoint, "--length 300 --temperature 100 --seed 1 --no-unk");
  ASSERT_EQ(known.exit_code, 0) << known.output;
  EXPECT_FALSE(contains(known.output, "<unk>")) << known.output;
  EXPECT_EQ(sampled_tokens(known.output, "").size(), 300u) << known.output;
}

TEST(Sample, BadWeightsFileGivesOneErrorLine) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, tiny_grammar(50));
  const TrainedLm lm{write_config(dir, "words.toml", tiny_lm_config("words", corpus)), corpus, ""};
  const std::string garbage = dir.path("garbage.safetensors");
  write_file(garbage, "this is not a checkpoint at all");
  const auto r = sample(lm, garbage, "--length 3");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(r.output.starts_with("kiln: error: ")) << r.output;
  EXPECT_TRUE(contains(r.output, garbage)) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // A checkpoint whose vocabulary metadata is broken: the same, naming the vocabulary.
  Net net = one_layer_net<Carry>();
  const std::string broken = save(dir, "broken.safetensors", net, kWords);
  set_metadata(broken, "vocabulary", "[not json");
  const auto b = sample(lm, broken, "--length 3");
  EXPECT_EQ(b.exit_code, 1) << b.output;
  EXPECT_TRUE(contains(b.output, broken + "': metadata 'vocabulary'")) << b.output;
  EXPECT_EQ(std::count(b.output.begin(), b.output.end(), '\n'), 1) << b.output;
}

// A stateful LSTM on text streams (truncated BPTT) stopped in mid-epoch: the checkpoint holds the
// carried h and c, and resuming from it equals the uninterrupted run bit for bit (resuming from
// zeros instead does not); kiln sample runs the stateful layer, carrying its state itself.
TEST(Sample, StatefulLstmResumesExactlyAndSamples) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, tiny_grammar(60));  // ~1300 training characters: 8 streams, ~20 steps per epoch
  const std::string config = tiny_lm_config("text", corpus, "stateful = true\n", "streams = true\n", 2);
  const TrainedLm lm{write_config(dir, "s.toml", config), corpus, ""};
  // Evaluation (after every epoch, and at the --steps stop just before the checkpoint) must leave
  // the carried state as it found it.
  TrainOptions full;
  full.out_dir = dir.path("full");
  const TrainResult all = run_training(lm.config, full);
  TrainOptions first = full;
  first.out_dir = dir.path("part");
  first.steps = all.steps / 2 + 3;  // in the middle of the second epoch
  const std::string stopped = dir.path("stopped.safetensors");
  std::filesystem::copy_file(run_training(lm.config, first).checkpoint, stopped);
  const SafetensorsFile saved = read_safetensors(stopped);
  ASSERT_TRUE(saved.tensors.count("state.lstm.h") && saved.tensors.count("state.lstm.c"));
  EXPECT_EQ(saved.tensors.at("state.lstm.h").shape, (Shape{1, 8, 16}));

  auto resume = [&](const std::string& from, const std::string& out) {
    TrainOptions second = full;
    second.out_dir = out;
    second.resume = from;
    EXPECT_EQ(run_training(lm.config, second).steps, all.steps);
    return read_safetensors(out + "/checkpoint.safetensors").tensors.at("decoder.weight").values;
  };
  const std::vector<float> expected = read_safetensors(all.checkpoint).tensors.at("decoder.weight").values;
  EXPECT_EQ(resume(stopped, dir.path("part")), expected);

  // Without its state the same checkpoint resumes from zeros, and the run drifts.
  write_back(saved, dir.path("stateless.safetensors"), "state.");
  EXPECT_NE(resume(dir.path("stateless.safetensors"), dir.path("zeros")), expected);

  const auto a = sample(lm, all.checkpoint, "--prompt 'the ' --length 30 --seed 2");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(data::decode_utf8(a.output).size(), 4u + 30u + 1u) << a.output;
  EXPECT_EQ(sample(lm, all.checkpoint, "--prompt 'the ' --length 30 --seed 2").output, a.output);
}

}  // namespace
}  // namespace kiln::train_test
