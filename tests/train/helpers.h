// Helpers of the training tests: config text, small files, and running the trainer in-process
// with the same model builder as `kiln train` (the temporary folder: tests/common/temp_dir.h).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/config/config.h"
#include "core/error.h"
#include "tests/common/error_of.h"
#include "core/safetensors.h"
#include "tests/common/run_command.h"
#include "tests/common/temp_dir.h"
#include "tools/train/trainer.h"
#include "tools/model_builder.h"

namespace kiln::train_test {

using kiln::testing::TempDir;

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// How often `part` occurs in `text` (non-overlapping).
inline int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using kiln::testing::CommandResult;
using kiln::testing::error_of;
using kiln::testing::run_command;

// A tiny CNN on synthetic (N, 1, 8, 8) images of 4 classes: conv 3x3 (4), ReLU, pool 2, fc 4.
// `data`, `solver` and `train` are the bodies of those sections.
inline std::string tiny_cnn_config(const std::string& data = "source = \"synthetic\"\nsize = 32\ntest_size = 8\n",
                                   const std::string& solver = "type = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n",
                                   const std::string& train = "epochs = 4\nbatch = 8\nseed = 7\nlog_every = 1\n",
                                   const std::string& input = "[1, 8, 8]", const std::string& schedule = "") {
  return "[model]\nname = \"tiny\"\ninput = " + input + "\nclasses = 4\n\n" +
         "[[layer]]\ntype = \"Conv2d\"\nname = \"conv1\"\nout_channels = 4\nkernel = 3\npad = 1\n\n"
         "[[layer]]\ntype = \"ReLU\"\nname = \"relu1\"\n\n"
         "[[layer]]\ntype = \"MaxPool2d\"\nname = \"pool1\"\nkernel = 2\n\n"
         "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
         "[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = 4\n\n"
         "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
         "[data]\n" + data + "\n[solver]\n" + solver + "\n" +
         (schedule.empty() ? "" : "[schedule]\n" + schedule + "\n") + "[train]\n" + train;
}

// Writes `text` as DIR/name and returns the path.
inline std::string write_config(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path(name);
  write_file(path, text);
  return path;
}

// A small language model: Embedding (vocab x embed) -> LSTM (hidden, plus the `lstm` keys) ->
// TimeFlatten -> Linear (vocab) -> SoftmaxCrossEntropy on sequences of T, trained with Adam
// (lr 0.01); `data` and `train` are the bodies of those sections (one "key = value" per line).
struct LmConfig {
  std::string name = "lm";
  int64_t seq_len = 32;
  int vocab = 32, embed = 16, hidden = 32;
  std::string lstm{}, data{}, train{};
};
inline std::string lm_config(const LmConfig& c) {
  return fmt::format(
      "[model]\nname = \"{}\"\ninput = [{}]\nclasses = {}\n\n"
      "[[layer]]\ntype = \"Embedding\"\nname = \"embed\"\nnum_embeddings = {}\nembedding_dim = {}\n\n"
      "[[layer]]\ntype = \"LSTM\"\nname = \"lstm\"\nhidden_size = {}\n{}\n"
      "[[layer]]\ntype = \"TimeFlatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"decoder\"\nout_features = {}\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\n{}\n[solver]\ntype = \"adam\"\nlr = 0.01\n\n[train]\n{}",
      c.name, c.seq_len, c.vocab, c.vocab, c.embed, c.hidden, c.lstm, c.vocab, c.data, c.train);
}

inline TrainResult run_training(const std::string& config_path, TrainOptions options) {
  if (options.device == "auto") options.device = "cpu";
  options.progress_bar = false;
  return train(load_config(config_path), options, cli::build_model);
}

// Trains the language model of `config` into DIR/out and reports its validation loss beside the
// unigram baseline (test properties and one printed line).
inline TrainResult train_language_model(const TempDir& dir, const std::string& config, double unigram) {
  TrainOptions options;
  options.out_dir = dir.path("out");
  const TrainResult r = run_training(config, options);
  EXPECT_TRUE(r.language_model);
  if (!r.test_loss) {
    ADD_FAILURE() << config << ": no validation loss";
    return r;
  }
  ::testing::Test::RecordProperty("unigram_entropy", fmt::format("{:.4f}", unigram));
  ::testing::Test::RecordProperty("validation_loss", fmt::format("{:.4f}", *r.test_loss));
  fmt::print("unigram baseline {:.4f} nats per token (perplexity {:.2f}); validation loss {:.4f} (perplexity {:.2f}) "
             "after {} steps, {:.1f} s\n",
             unigram, std::exp(unigram), *r.test_loss, std::exp(*r.test_loss), r.steps, r.seconds);
  return r;
}

// The "train" rows of DIR/metrics.csv as (step, train_loss text), in file order.
inline std::vector<std::pair<int64_t, std::string>> train_losses(const std::string& metrics_csv) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::ifstream in(metrics_csv);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    if (cells.size() > 4 && cells[0] == "train") out.emplace_back(std::stoll(cells[2]), cells[4]);
  }
  return out;
}

// Mean training loss over the "train" rows [first, last) of a metrics file.
inline double mean_loss(const std::vector<std::pair<int64_t, std::string>>& rows, size_t first, size_t last) {
  double sum = 0;
  for (size_t i = first; i < last; ++i) sum += std::stod(rows[i].second);
  return sum / static_cast<double>(last - first);
}

// A small CNN with every kind of state a resume must restore (momentum, dropout, a cosine schedule
// with warm-up, clipping; with `batchnorm`, BatchNorm's running statistics); `train_extra` is
// appended to [train].
inline std::string resume_config(const TempDir& dir, const std::string& train_extra = "", bool batchnorm = false) {
  return write_config(dir, "resume.toml",
                      "[model]\nname = \"resume\"\ninput = [1, 8, 8]\nclasses = 4\n\n"
                      "[[layer]]\ntype = \"Conv2d\"\nname = \"conv1\"\nout_channels = 4\nkernel = 3\npad = 1\n\n" +
                      std::string(batchnorm ? "[[layer]]\ntype = \"BatchNorm2d\"\nname = \"bn1\"\n\n" : "") +
                      "[[layer]]\ntype = \"ReLU\"\nname = \"relu1\"\n\n"
                      "[[layer]]\ntype = \"MaxPool2d\"\nname = \"pool1\"\nkernel = 2\n\n"
                      "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
                      "[[layer]]\ntype = \"Linear\"\nname = \"fc1\"\nout_features = 16\n\n"
                      "[[layer]]\ntype = \"ReLU\"\nname = \"relu2\"\n\n"
                      "[[layer]]\ntype = \"Dropout\"\nname = \"drop\"\np = 0.5\n\n"
                      "[[layer]]\ntype = \"Linear\"\nname = \"fc2\"\nout_features = 4\n\n"
                      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
                      "[data]\nsource = \"synthetic\"\nsize = 40\ntest_size = 8\n\n"
                      "[solver]\ntype = \"sgd\"\nlr = 0.05\nmomentum = 0.9\nweight_decay = 1e-3\n\n"
                      "[schedule]\ntype = \"cosine\"\nwarmup_steps = 3\n\n"
                      "[train]\nepochs = 3\nbatch = 8\nseed = 11\nlog_every = 1\nclip_grad_norm = 5.0\n" + train_extra);
}

// Both checkpoints hold the same tensors, bit for bit, and the same progress.
inline void expect_same_checkpoints(const std::string& a, const std::string& b) {
  const SafetensorsFile fa = read_safetensors(a), fb = read_safetensors(b);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (const auto& [name, ta] : fa.tensors) {
    ASSERT_TRUE(fb.tensors.count(name)) << name;
    const auto& tb = fb.tensors.at(name);
    ASSERT_EQ(ta.values.size(), tb.values.size()) << name;
    EXPECT_EQ(std::memcmp(ta.values.data(), tb.values.data(), ta.values.size() * 4), 0) << name << " differs";
  }
  for (const char* key : {"step", "epoch", "batch", "rng", "solver_steps"})
    EXPECT_EQ(fa.metadata.at(key), fb.metadata.at(key)) << key;
}

// A small AlexNet-shaped net (conv/ReLU/LRN/pool x2, grouped convs, conv3, fc with dropout) on
// 35x35 inputs; `train_extra` is appended to [train].
inline std::string small_alexnet_config(const TempDir& dir, int epochs, const std::string& data,
                                 const std::string& solver = "type = \"sgd\"\nlr = 0.02\nmomentum = 0.9\n",
                                 const std::string& train_extra = "") {
  const std::string lrn = "size = 5\nalpha = 1e-4\nbeta = 0.75\nk = 2.0\n";
  return write_config(
      dir, "small_alexnet.toml",
      "[model]\nname = \"small_alexnet\"\ninput = [3, 35, 35]\nclasses = 4\n\n"
      "[[layer]]\ntype = \"Conv2d\"\nname = \"conv1\"\nout_channels = 8\nkernel = 7\nstride = 2\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu1\"\n\n"
      "[[layer]]\ntype = \"LRN\"\nname = \"norm1\"\n" + lrn + "\n"
      "[[layer]]\ntype = \"MaxPool2d\"\nname = \"pool1\"\nkernel = 3\nstride = 2\n\n"
      "[[layer]]\ntype = \"Conv2d\"\nname = \"conv2\"\nout_channels = 16\nkernel = 5\npad = 2\ngroups = 2\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu2\"\n\n"
      "[[layer]]\ntype = \"LRN\"\nname = \"norm2\"\n" + lrn + "\n"
      "[[layer]]\ntype = \"MaxPool2d\"\nname = \"pool2\"\nkernel = 3\nstride = 2\n\n"
      "[[layer]]\ntype = \"Conv2d\"\nname = \"conv3\"\nout_channels = 16\nkernel = 3\npad = 1\ngroups = 2\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu3\"\n\n"
      "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc6\"\nout_features = 32\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu6\"\n\n"
      "[[layer]]\ntype = \"Dropout\"\nname = \"drop6\"\np = 0.5\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc8\"\nout_features = 4\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\n" + data + "\n"
      "[solver]\n" + solver + "\n"
      "[train]\nepochs = " + std::to_string(epochs) + "\nbatch = 8\nseed = 4\nlog_every = 1\n" + train_extra);
}

// Trains `config` on the CPU (into dir/cpu) and on cuda:0 (into dir/cuda) and returns the train-loss
// rows of both runs, CPU first.
inline std::pair<std::vector<std::pair<int64_t, std::string>>, std::vector<std::pair<int64_t, std::string>>>
cpu_and_cuda_losses(const TempDir& dir, const std::string& config) {
  TrainOptions o;
  o.out_dir = dir.path("cpu");
  run_training(config, o);
  o.out_dir = dir.path("cuda");
  o.device = "cuda:0";
  run_training(config, o);
  return {train_losses(dir.path("cpu/metrics.csv")), train_losses(dir.path("cuda/metrics.csv"))};
}

// Trains `config` on both devices (cpu_and_cuda_losses) and expects `steps` logged losses, cuda:0's
// equal to the CPU's step by step (to float rounding).
inline void expect_cuda_trains_with_cpu_losses(const TempDir& dir, const std::string& config, size_t steps) {
  const auto [cpu, gpu] = cpu_and_cuda_losses(dir, config);
  ASSERT_EQ(cpu.size(), steps);
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double a = std::stod(cpu[i].second), b = std::stod(gpu[i].second);
    EXPECT_NEAR(b, a, 2e-6 + 1e-4 * std::abs(a)) << "step " << cpu[i].first;
  }
}

}  // namespace kiln::train_test
