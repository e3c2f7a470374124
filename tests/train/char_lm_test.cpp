// The character-level language model end to end: a small Embedding → LSTM → TimeFlatten →
// Linear → SoftmaxCrossEntropy trained on a text the test writes (sentences from a tiny grammar)
// must bring its validation loss well below the unigram baseline (the entropy of the character
// distribution: the best loss without context), `kiln train` reports perplexity, and
// `kiln sample` generates the requested number of characters from the vocabulary, reproducibly; the
// GRU variant trains and samples.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/data/text.h"
#include "tests/common/run_command.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

// ~12k characters of "the cat sat on a mat.\n"-like sentences, from a fixed LCG.
std::string grammar_text() {
  const std::vector<std::vector<std::string>> parts = {
      {"the", "a", "one"}, {"cat", "dog", "bird", "fox"}, {"sat on", "ran to", "looked at"},
      {"the", "a"},        {"mat", "tree", "house", "hill"}};
  uint64_t state = 12345;
  auto next = [&](size_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>((state >> 33) % n);
  };
  std::string text;
  while (text.size() < 12000) {
    for (size_t k = 0; k < parts.size(); ++k) text += (k ? " " : "") + parts[k][next(parts[k].size())];
    text += ".\n";
  }
  return text;
}

std::string char_lm_config(const std::string& corpus) {
  return lm_config({.name = "charlm",
                    .seq_len = 32,
                    .hidden = 64,
                    .data = fmt::format("source = \"text\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 0\n", corpus),
                    .train = "epochs = 20\nbatch = 16\nseed = 3\nclip_grad_norm = 5.0\nlog_every = 20\n"});
}

TEST(CharLm, ValidationLossFallsWellBelowTheUnigramBaselineAndSamplingWorks) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_text());
  const std::string config = write_config(dir, "charlm.toml", char_lm_config(corpus));

  data::TextOptions o;
  o.validation = 0.1;
  const data::TextCorpus text(std::vector<std::string>{corpus}, o);
  const double unigram = text.unigram_entropy();
  ASSERT_GT(unigram, 2.0);  // ~2.8 nats: many letters, roughly evenly used

  // 10800 training characters / 32 = 337 sequences, 21 steps of 16 per epoch: 420 steps.
  const TrainResult r = train_language_model(dir, config, unigram);
  ASSERT_TRUE(r.test_loss.has_value());
  EXPECT_LT(*r.test_loss, 0.3 * unigram);  // the grammar itself has ~0.24 nats per character

  // Sampling from the trained weights: the requested number of characters, all from the
  // vocabulary, the same text for the same seed, another for another seed.
  const std::string kiln = KILN_BINARY;
  const std::string weights = r.checkpoint;
  auto sample = [&](const std::string& more) {
    return run_command(fmt::format("{} --log warn sample {} --weights {} --prompt 'the ' --length 120 {}", kiln,
                                         config, weights, more));
  };
  const auto a = sample("--seed 5 --temperature 0.8");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_TRUE(a.output.starts_with("the ")) << a.output;
  std::string generated = a.output.substr(4);
  ASSERT_FALSE(generated.empty());
  ASSERT_EQ(generated.back(), '\n');
  generated.pop_back();
  const std::u32string chars = data::decode_utf8(generated);
  EXPECT_EQ(chars.size(), 120u) << a.output;
  for (char32_t c : chars) EXPECT_NO_THROW(text.vocabulary().id(c)) << static_cast<uint32_t>(c);
  EXPECT_EQ(sample("--seed 5 --temperature 0.8").output, a.output);
  EXPECT_NE(sample("--seed 6 --temperature 0.8").output, a.output);
  // Greedy decoding of a well-trained model continues with a word of the grammar.
  const auto greedy = sample("--temperature 0");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.output;
  fmt::print("sample: {}\ngreedy: {}\n", a.output, greedy.output);
  const std::string g = greedy.output.substr(4, 3);
  const std::vector<std::string> words = {"cat", "dog", "bir", "fox", "mat", "tre", "hou", "hil"};
  EXPECT_NE(std::find(words.begin(), words.end(), g), words.end()) << greedy.output;
}

TEST(CharLm, KilnTrainReportsPerplexityAndSampleRefusesImageModels) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_text());
  const std::string config = write_config(dir, "charlm.toml", char_lm_config(corpus));
  const std::string kiln = KILN_BINARY;
  const auto r = run_command(
      fmt::format("{} train {} --device cpu --out {} --no-plot --epochs 1 --steps 5", kiln, config, dir.path("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "train loss")) << r.output;
  EXPECT_TRUE(contains(r.output, "perplexity")) << r.output;
  EXPECT_TRUE(contains(r.output, "validation loss")) << r.output;
  EXPECT_TRUE(contains(r.output, "unigram baseline")) << r.output;
  EXPECT_TRUE(contains(r.output, "charlm: validation loss")) << r.output;  // the summary line
  const auto e = run_command(fmt::format("{} eval {} --weights {} --device cpu", kiln, config,
                                               dir.path("out/checkpoint.safetensors")));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(e.output, "per token (perplexity ")) << e.output;
  EXPECT_TRUE(contains(e.output, "next-token accuracy")) << e.output;

  // A prompt character the training text never had is refused by name.
  const auto unknown = run_command(fmt::format("{} sample {} --weights {} --prompt 'the Z' --length 3", kiln,
                                                     config, dir.path("out/checkpoint.safetensors")));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_TRUE(contains(unknown.output, "'Z' (U+005A) is not in the vocabulary")) << unknown.output;

  std::string no_classes = char_lm_config(corpus);
  no_classes.replace(no_classes.find("classes = 32\n"), 13, "");
  const auto refused_config = run_command(fmt::format("{} train {} --device cpu --out {} --no-plot", kiln,
                                                            write_config(dir, "nc.toml", no_classes), dir.path("nc")));
  EXPECT_EQ(refused_config.exit_code, 1) << refused_config.output;
  EXPECT_TRUE(contains(refused_config.output, "needs [model] classes")) << refused_config.output;

  const std::string image = write_config(dir, "tiny.toml", tiny_cnn_config());
  const auto refused = run_command(fmt::format("{} sample {} --weights {} --prompt x --length 3", kiln, image,
                                                     dir.path("out/checkpoint.safetensors")));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "kiln: error: ")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "source = \"text\"")) << refused.output;
}

// The GRU variant (models/char_gru.toml) end to end, kept cheap: a few steps of `kiln train`, then
// `kiln sample` carries the GRU's one state (h, no c) from character to character.
TEST(CharLm, GruTrainsAndSamples) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_text());
  std::string gru = char_lm_config(corpus);
  gru.replace(gru.find("type = \"LSTM\""), 13, "type = \"GRU\"");
  const std::string config = write_config(dir, "chargru.toml", gru);
  const std::string kiln = KILN_BINARY;
  const auto r = run_command(
      fmt::format("{} train {} --device cpu --out {} --no-plot --epochs 1 --steps 5", kiln, config, dir.path("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "charlm: validation loss")) << r.output;
  const auto a = run_command(fmt::format("{} --log warn sample {} --weights {} --prompt 'the ' --length 40 --seed 2",
                                         kiln, config, dir.path("out/checkpoint.safetensors")));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_TRUE(a.output.starts_with("the ")) << a.output;
  EXPECT_EQ(data::decode_utf8(a.output.substr(4)).size(), 41u) << a.output;  // 40 characters and '\n'
}

}  // namespace
}  // namespace kiln::train_test
