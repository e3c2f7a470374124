// `kiln train` and `kiln eval` as a user runs them: bad configs, data and checkpoints are refused
// with one line "kiln: error: ..." naming the file and a non-zero exit; a non-finite loss names the
// step; Ctrl-C saves a checkpoint that --resume continues from; --weights is checked.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/common/child_process.h"
#include "tests/common/run_command.h"
#include "tests/common/small_disk.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

using kiln::testing::Child;
using kiln::testing::read_until;
using kiln::testing::spawn;


const std::string kKiln = KILN_BINARY;

// `kiln ARGS` with the plot off (tests never depend on matplotlib).
CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

std::string last_line(const std::string& output) {
  std::string s = output;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// A refusal: exit code 1, no crash, and the last line of the output is "kiln: error: ..." holding
// every one of `parts`.
void expect_refused(const CommandResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string line = last_line(r.output);
  EXPECT_TRUE(line.starts_with("kiln: error: ")) << r.output;
  for (const std::string& p : parts) EXPECT_TRUE(contains(line, p)) << "missing '" << p << "' in: " << line;
  EXPECT_FALSE(contains(r.output, "terminate called")) << r.output;
  EXPECT_FALSE(contains(r.output, "Aborted")) << r.output;
}

std::string train_args(const std::string& config, const std::string& out, const std::string& more = "") {
  return fmt::format("train {} --device cpu --out {} --no-plot {}", config, out, more);
}

// ---------------------------------------------------------------------------------------------

TEST(KilnTrain, TrainsEvaluatesAndWritesItsFiles) {
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  const auto r = kiln(train_args(config, dir.path("out"), "--steps 6"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(last_line(r.output), "tiny: test accuracy")) << r.output;
  EXPECT_TRUE(contains(r.output, "after 6 steps")) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir.path("out/metrics.csv")));
  const std::string ckpt = dir.path("out/checkpoint.safetensors");
  ASSERT_TRUE(std::filesystem::exists(ckpt));

  const auto e = kiln(fmt::format("eval {} --weights {} --device cpu --json", config, ckpt));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(last_line(e.output), "\"samples\": 8")) << e.output;
  EXPECT_TRUE(last_line(e.output).starts_with("{\"loss\": ")) << e.output;
}

TEST(KilnTrain, BadConfigsAreRefusedNamingFileAndLine) {
  TempDir dir;
  const std::string bad_lr =
      write_config(dir, "bad_lr.toml", tiny_cnn_config("source = \"synthetic\"\n", "type = \"sgd\"\nlr = \"fast\"\n"));
  expect_refused(kiln(train_args(bad_lr, dir.path("o1"))), {bad_lr + ":", "lr", "fast"});

  std::string text = tiny_cnn_config();
  text.replace(text.find("\"ReLU\""), 6, "\"Relu\"");
  const std::string bad_type = write_config(dir, "bad_type.toml", text);
  expect_refused(kiln(train_args(bad_type, dir.path("o2"))), {bad_type + ":", "unknown layer type 'Relu'", "ReLU"});

  const std::string not_toml = write_config(dir, "broken.toml", "[model\nname = 1\n");
  expect_refused(kiln(train_args(not_toml, dir.path("o3"))), {not_toml});

  const std::string bad_key = write_config(dir, "bad_key.toml", tiny_cnn_config() + "epoch = 3\n");
  expect_refused(kiln(train_args(bad_key, dir.path("o4"))), {bad_key + ":", "epoch"});

  const std::string missing = write_config(
      dir, "missing.toml",
      tiny_cnn_config("source = \"idx\"\ntrain_images = \"" + dir.path("nope-images.idx") + "\"\ntrain_labels = \"" +
                      dir.path("nope-labels.idx") + "\"\n"));
  expect_refused(kiln(train_args(missing, dir.path("o5"))), {dir.path("nope-images.idx")});

  // Logits narrower than the data's classes: on a GPU that would only be a NaN loss.
  text = tiny_cnn_config();
  text.replace(text.find("out_features = 4"), 16, "out_features = 3");
  const std::string narrow = write_config(dir, "narrow.toml", text);
  expect_refused(kiln(train_args(narrow, dir.path("o6"))),
                 {narrow + ": the model's output 'fc' has 3 classes but the data", "has 4"});
}

// IDX bytes: magic 0x0000 08 <ndim>, big-endian dimensions, data.
std::string idx_bytes(const std::vector<uint32_t>& dims, size_t data_bytes) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((d >> shift) & 0xff));
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<char>(i % 4));
  return out;
}

TEST(KilnTrain, TruncatedDataIsRefusedNamingTheFile) {
  TempDir dir;
  write_file(dir.path("images.idx"), idx_bytes({16, 8, 8}, 16 * 64 - 100));  // 100 bytes short
  write_file(dir.path("labels.idx"), idx_bytes({16}, 16));
  const std::string config = write_config(
      dir, "idx.toml",
      tiny_cnn_config("source = \"idx\"\ntrain_images = \"" + dir.path("images.idx") + "\"\ntrain_labels = \"" +
                      dir.path("labels.idx") + "\"\n"));
  expect_refused(kiln(train_args(config, dir.path("out"))), {dir.path("images.idx")});

  // Image and label counts that disagree.
  write_file(dir.path("images.idx"), idx_bytes({16, 8, 8}, 16 * 64));
  write_file(dir.path("labels.idx"), idx_bytes({15}, 15));
  expect_refused(kiln(train_args(config, dir.path("out"))), {"16", "15"});
}

// ---------------------------------------------------------------------------------------------
// Corrupt checkpoints: each refused by --resume with a clear message naming the file.

class CorruptCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = write_config(dir_, "tiny.toml", tiny_cnn_config());
    const auto r = kiln(train_args(config_, dir_.path("out"), "--steps 2"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    good_ = read_file(dir_.path("out/checkpoint.safetensors"));
    ASSERT_GT(good_.size(), 16u);
  }
  // Writes `bytes` as a checkpoint and resumes from it.
  CommandResult resume(const std::string& name, const std::string& bytes) {
    write_file(dir_.path(name), bytes);
    return kiln(train_args(config_, dir_.path("resumed"), "--resume " + dir_.path(name)));
  }
  std::string path(const std::string& name) const { return dir_.path(name); }
  // The good checkpoint rewritten through `edit` (tensors and metadata).
  std::string rewritten(const std::function<void(SafetensorsFile&)>& edit) {
    write_file(dir_.path("tmp.safetensors"), good_);
    SafetensorsFile f = read_safetensors(dir_.path("tmp.safetensors"));
    edit(f);
    std::vector<Tensor> tensors;
    tensors.reserve(f.tensors.size());
    std::vector<NamedTensor> named;
    for (const auto& [name, e] : f.tensors) {
      tensors.push_back(Tensor::from_host(std::span<const float>(e.values), e.shape));
      named.push_back({name, &tensors.back()});
    }
    write_safetensors(dir_.path("tmp.safetensors"), named, f.metadata);
    return read_file(dir_.path("tmp.safetensors"));
  }

  TempDir dir_;
  std::string config_, good_;
};

TEST_F(CorruptCheckpoint, TheGoodOneResumes) {
  const auto r = resume("good.safetensors", good_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming from " + path("good.safetensors") + " at step 2")) << r.output;
}

TEST_F(CorruptCheckpoint, TruncatedIsRefused) {
  expect_refused(resume("truncated.safetensors", good_.substr(0, good_.size() - 20)), {path("truncated.safetensors")});
  expect_refused(resume("tiny.safetensors", good_.substr(0, 5)), {path("tiny.safetensors")});
}

TEST_F(CorruptCheckpoint, BadHeaderJsonIsRefused) {
  std::string bytes = good_;
  const size_t brace = bytes.find('{', 8);
  ASSERT_NE(brace, std::string::npos);
  bytes[brace] = '[';  // same length, not the JSON object safetensors needs
  expect_refused(resume("json.safetensors", bytes), {path("json.safetensors")});
  bytes = good_;
  bytes[bytes.find("\"shape\"")] = '!';  // broken JSON
  expect_refused(resume("json2.safetensors", bytes), {path("json2.safetensors")});
}

TEST_F(CorruptCheckpoint, AnotherModelIsRefused) {
  const std::string bytes = rewritten([](SafetensorsFile& f) { f.metadata["model_hash"] = "0x0123456789abcdef"; });
  expect_refused(resume("hash.safetensors", bytes), {path("hash.safetensors"), "another model", "--weights"});
  // A real other model: the same layers with another width.
  std::string text = tiny_cnn_config();
  text.replace(text.find("out_channels = 4"), 16, "out_channels = 6");
  const std::string other = write_config(dir_, "other.toml", text);
  expect_refused(kiln(train_args(other, dir_.path("o"), "--resume " + dir_.path("out/checkpoint.safetensors"))),
                 {dir_.path("out/checkpoint.safetensors"), "another model"});
}

TEST_F(CorruptCheckpoint, MissingTensorIsRefused) {
  const std::string bytes = rewritten([](SafetensorsFile& f) { f.tensors.erase("fc.bias"); });
  expect_refused(resume("missing.safetensors", bytes), {path("missing.safetensors"), "missing 'fc.bias'"});
}

TEST_F(CorruptCheckpoint, WrongShapeIsRefused) {
  const std::string bytes = rewritten([](SafetensorsFile& f) {
    auto& e = f.tensors.at("conv1.weight");  // (4, 1, 3, 3) -> (4, 9)
    e.shape = Shape{4, 9};
  });
  expect_refused(resume("shape.safetensors", bytes), {path("shape.safetensors"), "'conv1.weight' has shape (4, 9), the model needs (4, 1, 3, 3)"});
}

TEST_F(CorruptCheckpoint, NotAKilnCheckpointIsRefused) {
  const std::string bytes = rewritten([](SafetensorsFile& f) { f.metadata.clear(); });
  expect_refused(resume("plain.safetensors", bytes), {path("plain.safetensors"), "not a kiln checkpoint", "--weights"});
  expect_refused(resume("text.safetensors", "hello, world, this is not a checkpoint at all"), {path("text.safetensors")});
}

// ---------------------------------------------------------------------------------------------

TEST(KilnTrain, NonFiniteLossStopsNamingTheStep) {
  TempDir dir;
  const std::string config =
      write_config(dir, "explode.toml", tiny_cnn_config("source = \"synthetic\"\nsize = 32\n", "type = \"sgd\"\nlr = 1e30\n"));
  const auto r = kiln(train_args(config, dir.path("out")));
  expect_refused(r, {"the loss is", "at step", "Lower the learning rate"});
  const std::string line = last_line(r.output);
  EXPECT_TRUE(contains(line, "at step 2") || contains(line, "at step 3")) << line;
}

TEST(KilnTrain, WeightsAreCheckedByNameAndShape) {
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  // A PyTorch-style state_dict: only the parameters, float32, no metadata.
  auto write = [&](const std::string& name, const std::vector<std::pair<std::string, Shape>>& entries) {
    std::vector<Tensor> t;
    t.reserve(entries.size());
    std::vector<NamedTensor> named;
    for (const auto& [n, s] : entries) {
      t.push_back(Tensor::zeros(s));
      named.push_back({n, &t.back()});
    }
    write_safetensors(dir.path(name), named, {});
    return dir.path(name);
  };
  const std::string good = write("good.safetensors", {{"conv1.weight", Shape{4, 1, 3, 3}},
                                                      {"conv1.bias", Shape{4}},
                                                      {"fc.weight", Shape{4, 64}},
                                                      {"fc.bias", Shape{4}}});
  auto r = kiln(train_args(config, dir.path("out"), "--steps 1 --weights " + good));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // All-zero weights: every class equally likely, loss ln 4.
  r = kiln(fmt::format("eval {} --weights {} --device cpu --json", config, good));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "\"loss\": 1.386294")) << r.output;

  const std::string bad = write("bad.safetensors", {{"conv1.weight", Shape{4, 1, 5, 5}},
                                                    {"conv1.bias", Shape{4}},
                                                    {"fc.w", Shape{4, 64}},
                                                    {"fc.bias", Shape{4}}});
  expect_refused(kiln(train_args(config, dir.path("out2"), "--weights " + bad)),
                 {bad, "'conv1.weight' has shape (4, 1, 5, 5), the model needs (4, 1, 3, 3)", "missing 'fc.weight'",
                  "unexpected 'fc.w'"});
  expect_refused(kiln(fmt::format("eval {} --weights {} --device cpu", config, bad)), {bad, "missing 'fc.weight'"});
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C: a checkpoint is saved, the exit code is 130, and --resume continues from it.

// A long `kiln train` run sent `signal` once its log reaches `until`; what it printed and how it
// ended. Asserts that it started, stopped within 30 s, and exited 130 with a checkpoint saved.
struct StoppedRun {
  std::string config, out, text;
};
StoppedRun stop_long_run(const TempDir& dir, int signal, const std::string& until) {
  const std::string config = write_config(
      dir, "long.toml",
      tiny_cnn_config("source = \"synthetic\"\nsize = 64\n", "type = \"sgd\"\nlr = 0.01\n",
                      "epochs = 100000\nbatch = 8\nseed = 3\nlog_every = 1\n"));
  StoppedRun r{.config = config, .out = dir.path("out"), .text = ""};
  Child c = spawn({kKiln, "train", config, "--device", "cpu", "--out", r.out, "--no-plot"});
  EXPECT_GT(c.pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const bool started = read_until(c.out, r.text, until, deadline);
  if (started) kill(c.pid, signal);
  const bool finished = read_until(c.out, r.text, "", deadline);
  if (!finished) kill(c.pid, SIGKILL);
  int status = 0;
  waitpid(c.pid, &status, 0);
  close(c.out);
  EXPECT_TRUE(started) << "no progress line within 30 s:\n" << r.text;
  EXPECT_TRUE(finished) << "kiln did not stop within 30 s of signal " << signal << ":\n" << r.text;
  EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << "\n"
                                 << r.text;
  EXPECT_EQ(WEXITSTATUS(status), 130) << r.text;
  EXPECT_TRUE(contains(r.text, "checkpoint saved to " + r.out + "/checkpoint.safetensors")) << r.text;
  return r;
}

TEST(KilnTrain, SigintSavesACheckpointAndResumeContinues) {
  TempDir dir;
  const StoppedRun stopped = stop_long_run(dir, SIGINT, "step 1/");
  const std::string& config = stopped.config;
  const std::string& out = stopped.out;
  const std::string& text = stopped.text;
  EXPECT_TRUE(contains(text, "--resume")) << text;
  const std::string ckpt = out + "/checkpoint.safetensors";
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << text;
  const SafetensorsFile f = read_safetensors(ckpt);
  const int64_t step = std::stoll(f.metadata.at("step"));
  EXPECT_GE(step, 1);

  const auto r = kiln(train_args(config, dir.path("out2"), fmt::format("--resume {} --steps {}", ckpt, step + 3)));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, fmt::format("resuming from {} at step {}", ckpt, step))) << r.output;
  EXPECT_TRUE(contains(r.output, fmt::format("after {} steps", step + 3))) << r.output;
}

// `kiln bench train` on a token model (the DyNet RNNLM config, models/rnnlm_dynet.toml): int32
// synthetic ids and a label per position, throughput in tokens/s = batch * T / step time.
double json_number(const std::string& output, const std::string& key) {
  const size_t at = output.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stod(output.substr(at + key.size() + 3));
}

TEST(KilnBench, TokenModelReportsTokensPerSecond) {
  const std::string config = std::string(KILN_SOURCE_DIR) + "/models/rnnlm_dynet.toml";
  const auto r = kiln("bench train " + config + " --device cpu --batch 2 --iters 2 --warmup 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double tokens = json_number(r.output, "train_tokens_per_s");
  const double sequences = json_number(r.output, "train_sequences_per_s");
  EXPECT_GT(tokens, 0) << r.output;
  EXPECT_GT(sequences, 0) << r.output;
  EXPECT_NEAR(tokens / sequences, 32.0, 1e-6) << r.output;  // T = 32 tokens per sequence
  EXPECT_EQ(json_number(r.output, "sequence_length"), 32.0) << r.output;
  EXPECT_GT(json_number(r.output, "forward_tokens_per_s"), 0) << r.output;
  EXPECT_GT(json_number(r.output, "final_loss"), 0) << r.output;  // ~ln(10000) on random labels

  const auto table = kiln("bench train " + config + " --device cpu --batch 1 --iters 1 --warmup 0");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(contains(table.output, "tokens/s")) << table.output;
  EXPECT_TRUE(contains(table.output, "sequences/s of 32")) << table.output;
}

// `kiln bench train --ranks 1,2` (issue 14: scaling is measured): the command runs itself under
// mpirun once per rank count and prints one table row each; a 2-rank run's JSON has the global
// batch split over the ranks and the all-reduce times. Bad lists and batches are refused up front.
TEST(KilnBench, RanksRunsEachRankCountUnderMpirunAndPrintsTheScalingTable) {
  const std::string mpiexec = KILN_MPIEXEC;
  if (mpiexec.empty()) {
    GTEST_SKIP() << "this kiln was built without MPI: --ranks needs Open MPI (apt-get install libopenmpi-dev "
                    "openmpi-bin, then rebuild)";
  }
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  const std::string bench = "bench train " + config + " --device cpu --batch 8 --iters 2 --warmup 1";
  const auto table = kiln(bench + " --ranks 1,2");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(contains(table.output, "machine: ")) << table.output;
  EXPECT_TRUE(contains(table.output, " cores (")) << table.output;
  // The rows: ranks, global batch, per rank, ...
  std::vector<std::pair<int, int>> rows;
  std::istringstream lines(table.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    int ranks = 0, global = 0, per_rank = 0;
    if (fields >> ranks >> global >> per_rank && global == 8) rows.emplace_back(ranks, per_rank);
  }
  ASSERT_EQ(rows.size(), 2u) << table.output;
  EXPECT_EQ(rows[0], std::make_pair(1, 8)) << table.output;
  EXPECT_EQ(rows[1], std::make_pair(2, 4)) << table.output;

  // One 2-rank run as the table's rows run (as root Open MPI must be told twice that it may).
  const std::string mpirun = "/usr/bin/env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + mpiexec +
                             " -np 2 --oversubscribe --bind-to none " + kKiln + " ";
  const auto two = run_command(mpirun + bench + " --json");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_EQ(json_number(two.output, "ranks"), 2.0) << two.output;
  EXPECT_EQ(json_number(two.output, "batch"), 8.0) << two.output;
  EXPECT_EQ(json_number(two.output, "batch_per_rank"), 4.0) << two.output;
  EXPECT_GT(json_number(two.output, "allreduce_full_ms"), 0.0) << two.output;
  EXPECT_GE(json_number(two.output, "allreduce_exposed_ms_per_step"), 0.0) << two.output;
  EXPECT_GT(json_number(two.output, "gradient_bytes"), 0.0) << two.output;
  EXPECT_GT(json_number(two.output, "train_images_per_s"), 0.0) << two.output;
  EXPECT_EQ(two.output.find("\"config\""), two.output.rfind("\"config\"")) << "rank 0 alone prints: " << two.output;

  // A single process says "ranks": 1 and nothing about an all-reduce.
  const auto one = kiln(bench + " --json");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_EQ(json_number(one.output, "ranks"), 1.0) << one.output;
  EXPECT_FALSE(contains(one.output, "allreduce_full_ms")) << one.output;

  expect_refused(kiln(bench + " --ranks 1,x"), {"--ranks takes a comma-separated list", "'1,x'"});
  expect_refused(kiln(bench + " --ranks 0"), {"--ranks takes"});
  expect_refused(kiln(bench + " --ranks 1,3"), {"batch 8", "does not divide by 3"});
  const auto odd = run_command(mpirun + "bench train " + config + " --device cpu --batch 7 --iters 1");
  EXPECT_NE(odd.exit_code, 0) << odd.output;
  EXPECT_TRUE(contains(odd.output, "the batch 7 is the global batch, split evenly over the 2 ranks")) << odd.output;
}

// --precision: the run says its precision, bf16 trains; a wrong value is one clear line and exit 1+.
// `kiln bench train --precision` prints the precision and the activations held for backward, which
// BF16 storage shrinks (all but the pooling layer's int32 argmax).
TEST(KilnTrain, PrecisionFlagTrainsAndBenchReportsTheActivationMemory) {
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  const auto r = kiln(train_args(config, dir.path("out"), "--steps 4 --precision bf16"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "precision bf16")) << r.output;
  const auto bad = kiln(train_args(config, dir.path("bad"), "--steps 4 --precision fp8"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.output, "--precision")) << bad.output;

  std::map<std::string, double> held;
  for (const char* p : {"fp32", "bf16", "fp16"}) {
    const auto b = kiln(fmt::format("bench train {} --device cpu --batch 8 --iters 1 --warmup 1 --json --precision {}",
                                    config, p));
    ASSERT_EQ(b.exit_code, 0) << b.output;
    EXPECT_TRUE(contains(b.output, fmt::format("\"precision\": \"{}\"", p))) << b.output;
    held[p] = json_number(b.output, "activation_bytes_held_after_forward");
  }
  EXPECT_GT(held["fp32"], 0);
  EXPECT_LT(held["bf16"], 0.75 * held["fp32"]);
  EXPECT_EQ(held["fp16"], held["bf16"]);
}

// ---------------------------------------------------------------------------------------------
// Signals, full disks and kill -9: nothing lost, nothing leaked (issue 18, class 6).

// `kiln ARGS...` spawned, its output read until it exits (or `seconds` pass: then SIGKILL).
struct Finished {
  bool in_time = false;
  int status = 0;
  std::string output;
  bool exited(int code) const { return in_time && WIFEXITED(status) && WEXITSTATUS(status) == code; }
};
Finished run_to_end(const std::vector<std::string>& args, int seconds) {
  Finished f;
  Child c = spawn(args);
  if (c.pid <= 0) return f;
  f.in_time = read_until(c.out, f.output, "", std::chrono::steady_clock::now() + std::chrono::seconds(seconds));
  if (!f.in_time) kill(c.pid, SIGKILL);
  waitpid(c.pid, &f.status, 0);
  close(c.out);
  return f;
}

// The names in `dir` that hold ".tmp." (a checkpoint write's temporaries).
std::vector<std::string> temporaries_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (contains(e.path().filename().string(), ".tmp.")) out.push_back(e.path().filename().string());
  }
  return out;
}

// SIGTERM (what schedulers, `docker stop` and mpirun send) is Ctrl-C: the current step finishes, a
// checkpoint is saved, the exit code is 130.
TEST(KilnTrain, SigtermSavesACheckpointLikeSigint) {
  TempDir dir;
  const StoppedRun stopped = stop_long_run(dir, SIGTERM, "step 3/");
  const std::string& out = stopped.out;
  const SafetensorsFile f = read_safetensors(out + "/checkpoint.safetensors");
  EXPECT_GE(std::stoll(f.metadata.at("step")), 3);
  EXPECT_TRUE(temporaries_in(out).empty());
}

// metrics.csv on a disk that fills up mid-run (the checkpoint's folder has room): the run stops
// with exit 1 and one line naming metrics.csv and the cause, after saving a checkpoint of the step
// it reached, which loads.
TEST(KilnTrain, AFullDiskUnderMetricsStopsTheRunAfterSavingACheckpoint) {
  TempDir dir;
  kiln::testing::SmallDisk disk(dir.path("small"), 4096);
  if (!disk.ok()) GTEST_SKIP() << disk.why();
  const std::string config = write_config(
      dir, "long.toml",
      tiny_cnn_config("source = \"synthetic\"\nsize = 64\n", "type = \"sgd\"\nlr = 0.01\n",
                      "epochs = 100000\nbatch = 8\nseed = 3\nlog_every = 1\n"));
  const std::string out = dir.path("out");
  std::filesystem::create_directories(out);
  std::filesystem::create_symlink(dir.path("small/metrics.csv"), out + "/metrics.csv");
  const Finished r = run_to_end({kKiln, "train", config, "--device", "cpu", "--out", out, "--no-plot"}, 60);
  ASSERT_TRUE(r.in_time) << "kiln went on for 60 s with metrics.csv on a full disk:\n" << r.output;
  ASSERT_TRUE(r.exited(1)) << r.output;
  const std::string line = last_line(r.output);
  EXPECT_TRUE(line.starts_with("kiln: error: cannot write the metrics file '" + out + "/metrics.csv': No space left "
                               "on device: training stopped at step "))
      << line;
  EXPECT_TRUE(contains(line, "is saved: continue with --resume " + out + "/checkpoint.safetensors")) << line;
  EXPECT_EQ(count_of(r.output, "kiln: error:"), 1) << r.output;
  const SafetensorsFile f = read_safetensors(out + "/checkpoint.safetensors");
  EXPECT_TRUE(contains(line, "the checkpoint of step " + f.metadata.at("step") + " is saved")) << line;
  EXPECT_TRUE(temporaries_in(out).empty());
  // Cut back to whole rows (a resumed run appends to it).
  const std::string csv = read_file(dir.path("small/metrics.csv"));
  ASSERT_TRUE(csv.ends_with("\n")) << csv;
  const std::string last = last_line(csv);
  EXPECT_EQ(std::count(last.begin(), last.end(), ','), 9) << last;
}

// metrics.csv that cannot take even its header (/dev/full): refused before training starts.
TEST(KilnTrain, MetricsThatCannotBeWrittenAreRefusedBeforeTraining) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  const std::string out = dir.path("out");
  std::filesystem::create_directories(out);
  std::filesystem::create_symlink("/dev/full", out + "/metrics.csv");
  expect_refused(kiln(train_args(config, out, "--steps 4")),
                 {"cannot write the metrics file '" + out + "/metrics.csv'", "No space left on device"});
}

// The whole output folder on a disk that fills up: whichever write fails first (metrics.csv or the
// checkpoint) ends the run with exit 1 and one line naming the file and the cause; no temporaries
// are left and the checkpoint on the disk, if any, loads.
TEST(KilnTrain, AFullDiskUnderTheOutputFolderIsOneErrorAndNoLeftovers) {
  TempDir dir;
  const std::string out = dir.path("out");
  kiln::testing::SmallDisk disk(out, 32 * 1024);
  if (!disk.ok()) GTEST_SKIP() << disk.why();
  const std::string config = write_config(
      dir, "long.toml",
      tiny_cnn_config("source = \"synthetic\"\nsize = 16\n", "type = \"sgd\"\nlr = 0.01\nmomentum = 0.9\n",
                      "epochs = 100000\nbatch = 8\nseed = 3\nlog_every = 1\n", "[1, 16, 16]"));
  const Finished r = run_to_end({kKiln, "train", config, "--device", "cpu", "--out", out, "--no-plot"}, 60);
  ASSERT_TRUE(r.in_time) << "kiln went on for 60 s on a full disk:\n" << r.output;
  ASSERT_TRUE(r.exited(1)) << r.output;
  const std::string line = last_line(r.output);
  EXPECT_TRUE(line.starts_with("kiln: error: cannot write ")) << line;
  EXPECT_TRUE(contains(line, "metrics.csv") || contains(line, "checkpoint.safetensors")) << line;
  EXPECT_TRUE(contains(line, "No space left on device")) << line;
  EXPECT_EQ(count_of(r.output, "kiln: error:"), 1) << r.output;
  EXPECT_TRUE(temporaries_in(out).empty()) << temporaries_in(out).front();
  if (std::filesystem::exists(out + "/checkpoint.safetensors")) {
    EXPECT_GE(std::stoll(read_safetensors(out + "/checkpoint.safetensors").metadata.at("step")), 1);
  }
}

// Durability: `kiln train` writing a 4 MB checkpoint every step is killed with SIGKILL at random
// moments and resumed, 30 times. The checkpoint loads after every kill, at most one temporary is
// ever left (the killed write's), and the next run's first write removes it: none at the end.
TEST(KilnTrain, KillNineDuringCheckpointWritesNeverLosesTheCheckpointOrLeaksTemporaries) {
  TempDir dir;
  const std::string config = write_config(
      dir, "mlp.toml",
      "[model]\nname = \"mlp\"\ninput = [1, 32, 32]\nclasses = 4\n\n"
      "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc1\"\nout_features = 512\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc2\"\nout_features = 4\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"synthetic\"\nsize = 8\ntest_size = 8\n\n"
      "[solver]\ntype = \"sgd\"\nlr = 0.01\nmomentum = 0.9\n\n"
      "[train]\nepochs = 1000000\nbatch = 8\nseed = 3\nlog_every = 1\n");
  const std::string out = dir.path("out"), ckpt = out + "/checkpoint.safetensors";
  std::mt19937 rng(18);
  const auto t0 = std::chrono::steady_clock::now();
  int kills = 0, left_behind = 0, max_left = 0;
  int64_t last_step = 0;
  for (; kills < 30 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(40); ++kills) {
    std::vector<std::string> args{kKiln, "train", config, "--device", "cpu", "--out", out, "--no-plot"};
    if (std::filesystem::exists(ckpt)) args.insert(args.end(), {"--resume", ckpt});
    Child c = spawn(args);
    ASSERT_GT(c.pid, 0);
    std::string text;
    // Wait for the first step (so the kill lands among steps and checkpoint writes, not in start-
    // up), then a random 0-300 ms more, reading the output all along (a full pipe would stall it).
    const bool stepping = read_until(c.out, text, "images/s", std::chrono::steady_clock::now() + std::chrono::seconds(20));
    const int delay_ms = std::uniform_int_distribution<int>(0, 300)(rng);
    read_until(c.out, text, "kiln: error:", std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms));
    kill(c.pid, SIGKILL);
    int status = 0;
    waitpid(c.pid, &status, 0);
    close(c.out);
    ASSERT_TRUE(stepping) << "run " << kills << ": no step within 20 s:\n" << text;
    ASSERT_FALSE(contains(text, "kiln: error:")) << "run " << kills << ":\n" << text;
    const std::vector<std::string> temporaries = temporaries_in(out);
    left_behind += temporaries.empty() ? 0 : 1;
    max_left = std::max(max_left, static_cast<int>(temporaries.size()));
    EXPECT_LE(temporaries.size(), 1u) << "after kill " << kills;
    if (std::filesystem::exists(ckpt)) {
      const int64_t step = std::stoll(read_safetensors(ckpt).metadata.at("step"));  // throws if torn
      EXPECT_GE(step, last_step) << "after kill " << kills;
      last_step = step;
    }
  }
  EXPECT_GE(kills, 10) << "too few kills in 40 s";
  ASSERT_TRUE(std::filesystem::exists(ckpt));
  // One more run that finishes: it resumes, writes, and leaves no temporary.
  const auto r = kiln(train_args(config, out, fmt::format("--resume {} --steps {}", ckpt, last_step + 2)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, fmt::format("resuming from {} at step {}", ckpt, last_step))) << r.output;
  EXPECT_TRUE(temporaries_in(out).empty()) << temporaries_in(out).front();
  const auto e = kiln(fmt::format("eval {} --weights {} --device cpu", config, ckpt));
  EXPECT_EQ(e.exit_code, 0) << e.output;
  std::printf("[ info ] %d kills in %.1f s: %d left a temporary behind (at most %d at once), reached step %lld\n",
              kills, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), left_behind, max_left,
              static_cast<long long>(last_step));
}

}  // namespace
}  // namespace kiln::train_test
