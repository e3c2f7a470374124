// The word-level language model end to end (source = "words", core/data/words.h): an Embedding →
// LSTM → TimeFlatten → Linear → SoftmaxCrossEntropy trained on lines from a tiny grammar must bring
// its validation loss well below the unigram baseline (the entropy of the next-word distribution),
// padded positions must not count in the loss, and `kiln train` runs the source.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/data/words.h"
#include "tests/common/run_command.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

// 1500 lines of 7 to 16 tokens ("the big cat sat on a mat and the dog ran to the tree ."), fixed LCG.
std::string grammar_lines() {
  const std::vector<std::string> det = {"the", "a", "one"}, adj = {"big", "small", "red"},
                                 noun = {"cat", "dog", "bird", "fox", "mat", "tree"},
                                 verb = {"sat on", "ran to", "looked at"};
  uint64_t state = 4242;
  auto next = [&](size_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>((state >> 33) % n);
  };
  auto phrase = [&] {
    std::string p = det[next(det.size())];
    if (next(2)) p += " " + adj[next(adj.size())];
    return p + " " + noun[next(noun.size())];
  };
  std::string text;
  for (int line = 0; line < 1500; ++line) {
    text += phrase() + " " + verb[next(verb.size())] + " " + phrase();
    if (next(3) == 0) {  // at most 16 words in all
      text += " and " + det[next(det.size())] + " " + noun[next(noun.size())] + " " + verb[next(verb.size())] + " " +
              det[next(det.size())] + " " + noun[next(noun.size())];
    }
    text += next(4) ? " .\n" : " !\n";
  }
  return text;
}

std::string word_lm_config(const std::string& corpus, int seq_len, int epochs, bool bucket = true) {
  return lm_config(
      {.seq_len = seq_len,
       .hidden = 64,
       .data = fmt::format("source = \"words\"\nfiles = [\"{}\"]\nvalidation = 0.1\nbucket = {}\nworkers = 0\n",
                           corpus, bucket),
       .train = fmt::format("epochs = {}\nbatch = 16\nseed = 3\nclip_grad_norm = 5.0\nlog_every = 20\neval_batch = 1000\n",
                            epochs)});
}

TEST(WordLm, ValidationLossFallsWellBelowTheUnigramBaseline) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_lines());
  const std::string config = write_config(dir, "wordlm.toml", word_lm_config(corpus, 16, 4));

  data::WordOptions o;
  o.validation = 0.1;
  o.seq_len = 16;
  o.max_vocab = 32;
  const data::WordCorpus words(std::vector<std::string>{corpus}, o);
  EXPECT_EQ(words.unknown_rate(), 0.0);
  const double unigram = words.unigram_entropy();
  ASSERT_GT(unigram, 2.0);

  const TrainResult r = train_language_model(dir, config, unigram);
  ASSERT_TRUE(r.test_loss.has_value());
  EXPECT_LT(*r.test_loss, 0.6 * unigram);
}

TEST(WordLm, PaddedPositionsDoNotCountInTheLoss) {
  // The same weights evaluated with every line padded to 20 and to 32 positions (no line is
  // longer than 16 words, 17 inputs with the leading <eos>; bucket = false, so batches are not
  // trimmed): one evaluation batch each, so equal losses mean the extra padding, labelled -100, is
  // ignored.
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_lines());
  const std::string config20 = write_config(dir, "w20.toml", word_lm_config(corpus, 20, 1, false));
  const std::string config32 = write_config(dir, "w32.toml", word_lm_config(corpus, 32, 1, false));
  TrainOptions options;
  options.out_dir = dir.path("out");
  options.steps = 5;
  const TrainResult r = run_training(config20, options);
  const EvalResult e20 = evaluate_checkpoint(load_config(config20), r.checkpoint, "cpu", cli::build_model);
  const EvalResult e32 = evaluate_checkpoint(load_config(config32), r.checkpoint, "cpu", cli::build_model);
  EXPECT_EQ(e20.samples, 150);
  EXPECT_EQ(e32.samples, 150);
  EXPECT_GT(e20.loss, 0.5);
  EXPECT_NEAR(e20.loss, e32.loss, 1e-4 * e20.loss);
}

TEST(WordLm, KilnTrainRunsTheWordSource) {
  TempDir dir;
  const std::string corpus = dir.path("corpus.txt");
  write_file(corpus, grammar_lines());
  const std::string config = write_config(dir, "wordlm.toml", word_lm_config(corpus, 16, 1));
  const std::string kiln = KILN_BINARY;
  const auto r = run_command(
      fmt::format("{} train {} --device cpu --out {} --no-plot --steps 5", kiln, config, dir.path("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "words ")) << r.output;
  EXPECT_TRUE(contains(r.output, "validation loss")) << r.output;
  EXPECT_TRUE(contains(r.output, "perplexity")) << r.output;

  std::string bad = word_lm_config(corpus, 16, 1);
  bad.replace(bad.find("workers = 0"), 11, "split = \"paragraphs\"");
  const auto refused = run_command(fmt::format("{} train {} --device cpu --out {} --no-plot", kiln,
                                                     write_config(dir, "bad.toml", bad), dir.path("bad")));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "must be lines or sentences")) << refused.output;
}

}  // namespace
}  // namespace kiln::train_test
