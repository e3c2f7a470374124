// Sequence to sequence ([data] source = "pairs"): an encoder LSTM whose final states start a decoder
// LSTM learns to reverse short strings; `kiln translate` decodes held-out ones greedily and with a
// beam (exact match), the checkpoint carries the vocabulary, the shipped dates config trains on the
// shipped generator's data, and bad input is refused in one line.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

const std::string kKiln = KILN_BINARY;
CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

// "source<TAB>reversed source" lines of 2..5 letters of "abcdef", deterministic for the seed.
std::string reversal_pairs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int k = 0, len = 2 + static_cast<int>(rng() % 4); k < len; ++k) s += static_cast<char>('a' + rng() % 6);
    out += s + "\t" + std::string(s.rbegin(), s.rend()) + "\n";
  }
  return out;
}

std::string seq2seq_config(const std::string& train_file, const std::string& test_file, const std::string& train) {
  return fmt::format(
      "[model]\nname = \"reverse\"\ninput = [8]\nclasses = 16\n\n"
      "[[layer]]\ntype = \"Embedding\"\nname = \"src\"\nnum_embeddings = 16\nembedding_dim = 16\ninputs = [\"data\"]\n\n"
      "[[layer]]\ntype = \"LSTM\"\nname = \"encoder\"\nhidden_size = 64\n\n"
      "[[layer]]\ntype = \"Embedding\"\nname = \"tgt\"\nnum_embeddings = 16\nembedding_dim = 16\n"
      "inputs = [\"decoder_input\"]\n\n"
      "[[layer]]\ntype = \"LSTM\"\nname = \"decoder\"\nhidden_size = 64\n"
      "inputs = [\"tgt\", \"encoder.h_n\", \"encoder.c_n\"]\n\n"
      "[[layer]]\ntype = \"TimeFlatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"out\"\nout_features = 16\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"pairs\"\ntrain_file = \"{}\"\ntest_file = \"{}\"\nworkers = 0\n\n"
      "[solver]\ntype = \"adam\"\nlr = 0.01\n\n[train]\n{}",
      train_file, test_file, train);
}

// Percentage in "exact match: K of N (P%)".
double exact_match(const std::string& output) {
  const size_t at = output.find("exact match: ");
  if (at == std::string::npos) return -1;
  const size_t open = output.find('(', at);
  return std::stod(output.substr(open + 1));
}

TEST(Seq2Seq, EncoderDecoderLearnsToReverseStringsAndTranslateDecodesThem) {
  TempDir dir;
  write_file(dir.path("train.tsv"), reversal_pairs(3000, 1));
  write_file(dir.path("test.tsv"), reversal_pairs(200, 2));
  const std::string config =
      write_config(dir, "reverse.toml",
                   seq2seq_config(dir.path("train.tsv"), dir.path("test.tsv"), "epochs = 4\nbatch = 32\nseed = 1\n"));
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(r.test_loss.has_value());
  EXPECT_LT(*r.test_loss, 0.3);  // per target token; the uniform guess over 7 tokens is ln 7 = 1.95

  const std::string weights = dir.path("out/checkpoint.safetensors");
  const CommandResult greedy = kiln(fmt::format("translate {} --weights {} --pairs {}", config, weights, dir.path("test.tsv")));
  ASSERT_EQ(greedy.exit_code, 0) << greedy.output;
  EXPECT_GE(exact_match(greedy.output), 90.0) << greedy.output;
  const CommandResult beam =
      kiln(fmt::format("translate {} --weights {} --beam 4 --pairs {}", config, weights, dir.path("test.tsv")));
  ASSERT_EQ(beam.exit_code, 0) << beam.output;
  EXPECT_GE(exact_match(beam.output), 90.0) << beam.output;

  // One output line per input, in order; the vocabulary comes from the checkpoint (the data is gone).
  std::filesystem::remove(dir.path("train.tsv"));
  const CommandResult lines = kiln(fmt::format("translate {} --weights {} --beam 2 abc fed", config, weights));
  ASSERT_EQ(lines.exit_code, 0) << lines.output;
  EXPECT_EQ(lines.output, "cba\ndef\n");
}

TEST(Seq2Seq, BadPairsAndBadTranslateArgumentsAreOneClearLine) {
  TempDir dir;
  write_file(dir.path("train.tsv"), "ab\tba\ncd dc\n");
  write_file(dir.path("test.tsv"), "ab\tba\n");
  const std::string config =
      write_config(dir, "bad.toml", seq2seq_config(dir.path("train.tsv"), dir.path("test.tsv"), "epochs = 1\nbatch = 2\n"));
  const CommandResult t = kiln(fmt::format("train {} --device cpu --out {}", config, dir.path("out")));
  EXPECT_NE(t.exit_code, 0);
  EXPECT_TRUE(contains(t.output, dir.path("train.tsv") + ":2: no tab")) << t.output;
  EXPECT_EQ(count_of(t.output, "error"), 1) << t.output;

  // kiln translate with a model that is not sequence to sequence.
  const std::string lm = write_config(dir, "lm.toml", lm_config(LmConfig{.data = "source = \"text\"\nfiles = [\"x\"]\n"}));
  write_file(dir.path("w.safetensors"), "");
  const CommandResult n = kiln(fmt::format("translate {} --weights {} abc", lm, dir.path("w.safetensors")));
  EXPECT_NE(n.exit_code, 0);
  EXPECT_TRUE(contains(n.output, "needs a sequence-to-sequence model")) << n.output;
}

// The shipped config on a small set from the shipped generator (its paths pointed at it): the
// dates are learnt well past chance in 80 steps.
TEST(Seq2Seq, ShippedDatesConfigTrainsOnTheGeneratedPairs) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 to run the generator";
  TempDir dir;
  const std::string source = KILN_SOURCE_DIR;
  const CommandResult g = run_command(
      fmt::format("/usr/bin/python3 {}/tools/make_dates_tsv.py {} --train 1500 --test 50", source, dir.path("dates")));
  ASSERT_EQ(g.exit_code, 0) << g.output;
  std::string text = read_file(source + "/models/seq2seq_dates.toml");
  const std::string generated = fmt::format("\"{}/", dir.path("dates"));
  for (size_t at; (at = text.find("\"data/dates/")) != std::string::npos;) text.replace(at, 12, generated);
  const std::string config = write_config(dir, "dates.toml", text);
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.steps = 80;
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(r.test_loss.has_value());
  EXPECT_LT(*r.test_loss, 1.6);  // uniform over the 15 output characters would be ln 15 = 2.7
}

#if KILN_WITH_DEVICE
// The encoder-decoder on cuda:0 (the ports' gradients through device kernels) trains with the
// CPU's losses, step by step.
TEST(Seq2Seq, CudaTrainsWithTheCpuLosses) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "needs a CUDA device: " << why;
  TempDir dir;
  write_file(dir.path("train.tsv"), reversal_pairs(64, 3));
  write_file(dir.path("test.tsv"), reversal_pairs(8, 4));
  const std::string config = write_config(
      dir, "reverse.toml",
      seq2seq_config(dir.path("train.tsv"), dir.path("test.tsv"), "epochs = 1\nbatch = 16\nseed = 2\nlog_every = 1\n"));
  expect_cuda_trains_with_cpu_losses(dir, config, 4);
}
#endif

}  // namespace
}  // namespace kiln::train_test
