// Language-model batching through the trainer: word lines in length-bucketed, trimmed batches
// ([data] bucket = true) train, evaluate like full-length batches and resume exactly; text laid
// out in streams ([data] streams = true, truncated back-propagation through time) trains, and a
// batch too big for its split is one clear error; a stateful LSTM on independent sequences is warned
// about; and (device builds) a stateful LSTM on streams and a bucketed word LM train on cuda:0 with
// the CPU's losses, the stateful one resuming mid-epoch exactly there too.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "core/data/text.h"
#include "core/data/words.h"
#include "tools/train/data_sources.h"
#include "tests/common/device.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

// The shared small model (tests/train/helpers.h), hidden 32, on sequences of T.
std::string lm_config(int64_t T, const std::string& data, const std::string& train) {
  return train_test::lm_config({.seq_len = T, .data = data, .train = train});
}

// 400 lines of one to three clauses ("the cat saw a dog , and ..."): 5, 11 or 17 tokens, so lines
// differ in length and the longest are cut into pieces of T = 12.
std::string clause_lines() {
  const std::vector<std::string> det = {"the", "a"}, noun = {"cat", "dog", "fox", "bird"},
                                 verb = {"saw", "met", "chased"};
  std::mt19937 rng(17);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto clause = [&] { return pick(det) + " " + pick(noun) + " " + pick(verb) + " " + pick(det) + " " + pick(noun); };
  std::string text;
  for (int line = 0; line < 400; ++line) {
    text += clause();
    for (unsigned k = rng() % 3; k > 0; --k) text += " , and " + clause();
    text += "\n";
  }
  return text;
}

std::string words_data(const std::string& corpus, bool bucket) {
  return fmt::format("source = \"words\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 1\nbucket = {}\n", corpus,
                     bucket);
}

const char* kWordTrain = "epochs = 3\nbatch = 16\nseed = 3\nclip_grad_norm = 5.0\nlog_every = 5\neval_batch = 32\n";

TEST(LmBatching, BucketedWordLmTrainsAndEvaluatesLikeFullLengthBatches) {
  TempDir dir;
  const std::string corpus = dir.path("lines.txt");
  write_file(corpus, clause_lines());
  const std::string bucketed = write_config(dir, "b.toml", lm_config(12, words_data(corpus, true), kWordTrain));
  const std::string full = write_config(dir, "f.toml", lm_config(12, words_data(corpus, false), kWordTrain));

  TrainOptions options;
  options.out_dir = dir.path("out");
  const TrainResult r = run_training(bucketed, options);
  const auto rows = train_losses(dir.path("out/metrics.csv"));
  ASSERT_GE(rows.size(), 8u);
  const double first = mean_loss(rows, 0, 2), last = mean_loss(rows, rows.size() - 2, rows.size());
  ASSERT_TRUE(r.test_loss.has_value());
  fmt::print("bucketed word LM: loss {:.3f} -> {:.3f}, validation {:.3f} after {} steps, {:.1f} s\n", first, last,
             *r.test_loss, r.steps, r.seconds);
  EXPECT_LT(last, 0.6 * first);
  data::WordOptions o;
  o.validation = 0.1;
  o.seq_len = 12;
  o.max_vocab = 32;
  const double unigram = data::WordCorpus(std::vector<std::string>{corpus}, o).unigram_entropy();
  EXPECT_LT(*r.test_loss, 0.7 * unigram);  // the grammar: about 1 nat per token, unigram about 2

  // Trimming a batch to its longest line removes only padding, which never counted.
  const EvalResult eb = evaluate_checkpoint(load_config(bucketed), r.checkpoint, "cpu", cli::build_model);
  const EvalResult ef = evaluate_checkpoint(load_config(full), r.checkpoint, "cpu", cli::build_model);
  EXPECT_EQ(eb.samples, ef.samples);
  EXPECT_NEAR(eb.loss, ef.loss, 1e-5 * ef.loss);
  EXPECT_NEAR(eb.accuracy, ef.accuracy, 1e-9);
  EXPECT_NEAR(eb.loss, *r.test_loss, 1e-5 * eb.loss);
}

TEST(LmBatching, ABucketedRunResumedMidEpochEqualsTheUninterruptedOne) {
  TempDir dir;
  const std::string corpus = dir.path("lines.txt");
  write_file(corpus, clause_lines());
  const std::string config =
      write_config(dir, "b.toml", lm_config(12, words_data(corpus, true), "epochs = 2\nbatch = 16\nseed = 5\nlog_every = 1\n"));
  TrainOptions full;
  full.out_dir = dir.path("full");
  const TrainResult all = run_training(config, full);
  TrainOptions first;
  first.out_dir = dir.path("part");
  first.steps = all.steps / 2 + 3;  // in the middle of the second epoch
  const TrainResult stopped = run_training(config, first);
  TrainOptions second;
  second.out_dir = dir.path("part");
  second.resume = stopped.checkpoint;
  const TrainResult resumed = run_training(config, second);
  EXPECT_EQ(resumed.steps, all.steps);
  const auto a = train_losses(dir.path("full/metrics.csv")), b = train_losses(dir.path("part/metrics.csv"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << a[i].first;
  EXPECT_EQ(resumed.test_loss, all.test_loss);
}

// ~6000 characters of the same clauses, one line each.
std::string clause_text() { return clause_lines().substr(0, 6000); }

std::string text_streams_data(const std::string& corpus) {
  return fmt::format("source = \"text\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 1\nstreams = true\n", corpus);
}

TEST(LmBatching, CharLmTrainsOnStreams) {
  TempDir dir;
  const std::string corpus = dir.path("text.txt");
  write_file(corpus, clause_text());
  const std::string config = write_config(
      dir, "s.toml", lm_config(16, text_streams_data(corpus), "epochs = 3\nbatch = 8\nseed = 2\nlog_every = 5\neval_batch = 4\n"));
  TrainOptions options;
  options.out_dir = dir.path("out");
  const TrainResult r = run_training(config, options);
  // 5400 training characters in 8 streams of 675: (675 - 1) / 16 = 42 steps per epoch.
  EXPECT_EQ(r.steps, 3 * 42);
  const auto rows = train_losses(dir.path("out/metrics.csv"));
  ASSERT_GE(rows.size(), 8u);
  EXPECT_LT(mean_loss(rows, rows.size() - 2, rows.size()), 0.6 * mean_loss(rows, 0, 2));
  ASSERT_TRUE(r.test_loss.has_value());
  data::TextOptions o;
  o.validation = 0.1;
  const double unigram = data::TextCorpus(std::vector<std::string>{corpus}, o).unigram_entropy();
  fmt::print("char LM on streams: validation loss {:.3f} (unigram {:.3f}) after {} steps\n", *r.test_loss, unigram,
             r.steps);
  EXPECT_LT(*r.test_loss, 0.6 * unigram);

  // --batch changes the streams too; a batch the split cannot hold is one clear error.
  options.batch = 400;
  const std::string e = error_of([&] { run_training(config, options); });
  EXPECT_TRUE(contains(e, config + ": [data] streams = true cuts the training split (5400 characters) into batch = "
                                   "400 streams")) << e;
  EXPECT_TRUE(contains(e, "lower [train] batch to at most 317")) << e;
  const RunConfig big_eval = load_config(write_config(
      dir, "e.toml", lm_config(16, text_streams_data(corpus), "batch = 8\neval_batch = 64\n")));
  const std::string ev = error_of([&] { make_datasets(big_eval); });
  EXPECT_TRUE(contains(ev, "validation split (600 characters) into eval_batch = 64 streams")) << ev;
  EXPECT_TRUE(contains(ev, "at most 35")) << ev;
}

// A stateful LSTM fed independent (shuffled) sequences carries state across unrelated text: the
// trainer says so once; on streams it says nothing.
TEST(LmBatching, StatefulLayerOnIndependentSequencesIsWarnedAbout) {
  TempDir dir;
  const std::string corpus = dir.path("text.txt");
  write_file(corpus, clause_text());
  auto run = [&](const std::string& data) {
    const std::string config = write_config(
        dir, "w.toml",
        train_test::lm_config({.seq_len = 16, .lstm = "stateful = true\n", .data = data, .train = "batch = 8\n"}));
    TrainOptions options;
    options.out_dir = dir.path("out");
    options.steps = 3;
    options.evaluate_each_epoch = false;
    ::testing::internal::CaptureStderr();
    run_training(config, options);
    return ::testing::internal::GetCapturedStderr();
  };
  const std::string independent =
      run(fmt::format("source = \"text\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 0\n", corpus));
  EXPECT_EQ(count_of(independent, "is stateful"), 1) << independent;
  EXPECT_TRUE(contains(independent, "set [data] streams = true")) << independent;
  EXPECT_EQ(count_of(run(text_streams_data(corpus)), "is stateful"), 0);
}

#if KILN_WITH_DEVICE
// The losses of every step of `config` on the CPU and on cuda:0 (emulated in the emulate build).
void expect_cuda_losses_equal_cpu(const TempDir& dir, const std::string& config, const std::string& tag) {
  TrainOptions o;
  o.steps = 12;
  o.out_dir = dir.path(tag + "_cpu");
  run_training(config, o);
  o.out_dir = dir.path(tag + "_cuda");
  o.device = "cuda:0";
  run_training(config, o);
  const auto cpu = train_losses(dir.path(tag + "_cpu/metrics.csv")), gpu = train_losses(dir.path(tag + "_cuda/metrics.csv"));
  ASSERT_EQ(cpu.size(), 12u) << tag;
  ASSERT_EQ(gpu.size(), cpu.size()) << tag;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double a = std::stod(cpu[i].second), b = std::stod(gpu[i].second);
    EXPECT_NEAR(b, a, 1e-5 + 1e-4 * std::abs(a)) << tag << " step " << cpu[i].first;
  }
}

TEST(LmBatching, StatefulStreamsAndBucketedWordsTrainOnCudaWithTheCpuLosses) {
  KILN_REQUIRE_DEVICE();
  TempDir dir;
  const std::string text = dir.path("text.txt"), lines = dir.path("lines.txt");
  write_file(text, clause_text());
  write_file(lines, clause_lines());
  const std::string train = "epochs = 2\nbatch = 8\nseed = 2\nlog_every = 1\neval_batch = 4\n";
  // 42 steps per epoch: the 12 steps stop in mid-epoch, after an evaluation, with carried state.
  const std::string stateful = write_config(
      dir, "s.toml", train_test::lm_config({.seq_len = 16, .lstm = "stateful = true\n", .data = text_streams_data(text), .train = train}));
  expect_cuda_losses_equal_cpu(dir, stateful, "stateful");
  expect_cuda_losses_equal_cpu(dir, write_config(dir, "w.toml", lm_config(12, words_data(lines, true), train)), "words");

  // Resumed on cuda:0 from the mid-epoch checkpoint (carried state included): the uninterrupted run.
  TrainOptions o;
  o.device = "cuda:0";
  o.steps = 16;
  o.out_dir = dir.path("whole");
  run_training(stateful, o);
  o.out_dir = dir.path("stateful_cuda");
  o.resume = dir.path("stateful_cuda/checkpoint.safetensors");
  run_training(stateful, o);
  EXPECT_EQ(read_safetensors(dir.path("stateful_cuda/checkpoint.safetensors")).tensors.at("decoder.weight").values,
            read_safetensors(dir.path("whole/checkpoint.safetensors")).tensors.at("decoder.weight").values);
}
#endif

}  // namespace
}  // namespace kiln::train_test
