// Data-parallel training (issue 14) through the `kiln` binary under `mpirun -np 2` on the CPU (and,
// in the emulate build, on two emulated GPUs): a 2-rank run computes what the single-process run
// computes (the global batch split over the ranks, gradients averaged in buckets, dropout keyed by
// the global sample index), resumes exactly, refuses a batch the ranks do not divide, and stops
// every rank cleanly when one is interrupted or killed.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "core/safetensors.h"
#include "tests/common/child_process.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

const std::string kKiln = KILN_BINARY;
const std::string kMpiexec = KILN_MPIEXEC;  // empty: this build has no MPI

#define SKIP_WITHOUT_MPI()                                                                                  \
  if (kMpiexec.empty()) GTEST_SKIP() << "this kiln was built without MPI: data-parallel runs need Open MPI " \
                                        "(apt-get install libopenmpi-dev openmpi-bin, then rebuild)"

// The environment and flags every mpirun of these tests needs: CI runs as root, on 2 cores or fewer.
std::vector<std::string> mpirun_prefix(int ranks) {
  return {"/usr/bin/env",   "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_rmaps_base_oversubscribe=1",
          kMpiexec,         "-np",                      std::to_string(ranks),              "--bind-to",
          "none",           kKiln};
}

CommandResult mpirun(int ranks, const std::string& args, const std::string& env = "") {
  std::string command;
  for (const std::string& part : mpirun_prefix(ranks)) command += part + " ";
  if (!env.empty()) command = "/usr/bin/env " + env + " " + command;
  return run_command(command + args);
}

CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

// Every tensor of two checkpoints agrees within `tolerance` relative to its largest magnitude (the
// ranks add their gradients in another order than one process does).
void expect_close_checkpoints(const std::string& a, const std::string& b, double tolerance) {
  const SafetensorsFile fa = read_safetensors(a), fb = read_safetensors(b);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (const auto& [name, ta] : fa.tensors) {
    ASSERT_TRUE(fb.tensors.count(name)) << name;
    const auto& tb = fb.tensors.at(name);
    ASSERT_EQ(ta.values.size(), tb.values.size()) << name;
    double largest = 0, worst = 0;
    for (size_t i = 0; i < ta.values.size(); ++i) {
      largest = std::max(largest, std::abs(static_cast<double>(ta.values[i])));
      worst = std::max(worst, std::abs(static_cast<double>(ta.values[i]) - tb.values[i]));
    }
    EXPECT_LE(worst, tolerance * std::max(largest, 1e-3)) << name << ": max |difference| " << worst;
  }
  EXPECT_EQ(fa.metadata.at("step"), fb.metadata.at("step"));
}

// The training losses of two metrics files agree row by row within `tolerance`.
void expect_close_losses(const std::string& a_csv, const std::string& b_csv, double tolerance) {
  const auto a = train_losses(a_csv), b = train_losses(b_csv);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_NEAR(std::stod(a[i].second), std::stod(b[i].second), tolerance) << "step " << a[i].first;
  }
}

// Trains `config` for `steps` steps alone and as 2 ranks (out dirs DIR/one and DIR/two) and checks
// that both runs agree.
void expect_two_ranks_match_one(const TempDir& dir, const std::string& config, int steps, double tolerance,
                                const std::string& device = "cpu", const std::string& env = "") {
  const std::string args = fmt::format("train {} --steps {} --no-plot ", config, steps);
  const CommandResult one = kiln(args + "--device cpu --out " + dir.path("one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const CommandResult two = mpirun(2, args + "--device " + device + " --out " + dir.path("two"), env);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_TRUE(contains(two.output, "= 2 ranks × ")) << two.output;
  EXPECT_EQ(count_of(two.output, "after " + std::to_string(steps) + " steps"), 1) << "rank 0 alone reports:\n"
                                                                                  << two.output;
  expect_close_losses(dir.path("one/metrics.csv"), dir.path("two/metrics.csv"), tolerance);
  expect_close_checkpoints(dir.path("one/checkpoint.safetensors"), dir.path("two/checkpoint.safetensors"), tolerance);
}

// The LeNet config with a metrics row every step.
std::string lenet_logging_every_step(const TempDir& dir) {
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/models/lenet_fashion.toml");
  std::stringstream text;
  text << in.rdbuf();
  return write_config(dir, "lenet.toml", std::regex_replace(text.str(), std::regex("log_every = \\d+"), "log_every = 1"));
}

TEST(DataParallel, LenetOnFashionMnistTwoRanksMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  }
  TempDir dir;
  expect_two_ranks_match_one(dir, lenet_logging_every_step(dir), 20, 2e-5);
  // The sharded evaluation adds up to the single-process figures.
  const auto one = read_file(dir.path("one/metrics.csv")), two = read_file(dir.path("two/metrics.csv"));
  const auto test_columns = [](const std::string& csv) {
    const std::string epoch = csv.substr(csv.rfind("\nepoch,") + 1);
    std::vector<std::string> cells;
    std::stringstream s(epoch);
    for (std::string cell; std::getline(s, cell, ',');) cells.push_back(cell);
    return std::pair{cells.at(6), cells.at(7)};  // test_loss, test_accuracy
  };
  EXPECT_NEAR(std::stod(test_columns(one).first), std::stod(test_columns(two).first), 1e-4);
  EXPECT_NEAR(std::stod(test_columns(one).second), std::stod(test_columns(two).second), 2e-4);  // 2 of 10000
}

// Dropout, momentum, weight decay, clipping and a cosine schedule: the dropout masks follow the
// global sample index, so they are the single process's whatever the ranks.
TEST(DataParallel, DropoutAndClippingTwoRanksMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  expect_two_ranks_match_one(dir, resume_config(dir), 12, 2e-5);
}

TEST(DataParallel, LstmLanguageModelTwoRanksMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  std::string corpus;
  for (int i = 0; i < 200; ++i) corpus += fmt::format("the {} fox jumps over {} lazy dogs.\n", i % 7, i % 5);
  write_file(dir.path("corpus.txt"), corpus);
  const std::string config = write_config(
      dir, "lm.toml",
      lm_config({.name = "lm",
                 .seq_len = 16,
                 .hidden = 24,
                 .data = fmt::format("source = \"text\"\nfiles = [\"{}\"]\nvalidation = 0.1\nworkers = 0\n",
                                     dir.path("corpus.txt")),
                 .train = "epochs = 2\nbatch = 8\nseed = 5\nclip_grad_norm = 5.0\nlog_every = 1\n"}));
  expect_two_ranks_match_one(dir, config, 12, 2e-5);
}

// Two ranks on two (emulated) GPUs: each rank on cuda:(local rank), its gradients staged through
// the host to MPI from a side stream ordered by events (the cuda build uses NCCL instead).
TEST(DataParallel, TwoEmulatedGpusMatchOneCpuProcess) {
  SKIP_WITHOUT_MPI();
  if (std::string(KILN_FLAVOUR) != "emulate") GTEST_SKIP() << "needs the emulate build (two emulated GPUs)";
  TempDir dir;
  expect_two_ranks_match_one(dir, resume_config(dir), 8, 1e-4, "cuda", "KILN_EMU_DEVICES=2");
}

// A 2-rank run stopped after 5 steps and resumed (by 2 ranks) ends where the uninterrupted one does,
// bit for bit: the same ranks add in the same order.
TEST(DataParallel, ResumedTwoRankRunMatchesTheUninterruptedOne) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  const std::string config = resume_config(dir);
  const std::string base = fmt::format("train {} --device cpu --no-plot ", config);
  const CommandResult whole = mpirun(2, base + "--steps 12 --out " + dir.path("whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const CommandResult first = mpirun(2, base + "--steps 5 --out " + dir.path("part"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const CommandResult rest =
      mpirun(2, base + "--steps 12 --out " + dir.path("rest") + " --resume " + dir.path("part/checkpoint.safetensors"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  EXPECT_TRUE(contains(rest.output, "resuming from")) << rest.output;
  expect_same_checkpoints(dir.path("whole/checkpoint.safetensors"), dir.path("rest/checkpoint.safetensors"));
}

TEST(DataParallel, ABatchTheRanksDoNotDivideIsRefused) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  const CommandResult r =
      mpirun(2, fmt::format("train {} --device cpu --batch 7 --steps 1 --no-plot --out {}", resume_config(dir),
                            dir.path("out")));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "[train] batch 7 is the global batch, split evenly over the 2 ranks")) << r.output;
  EXPECT_TRUE(contains(r.output, "kiln: error: ")) << r.output;
}

// ---------------------------------------------------------------------------------------------
// Signals: SIGINT to one rank stops both with a checkpoint; a killed rank ends the job.

// The pid of rank `rank` of a running job whose command line mentions `marker` (each rank's
// environment names its rank).
pid_t rank_pid(const std::string& marker, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    const std::string cmdline = read_file(entry.path() / "cmdline");
    if (!contains(cmdline, marker) || cmdline.rfind(kKiln, 0) != 0) continue;
    const std::string environ = read_file(entry.path() / "environ");
    if (contains(std::string(1, '\0') + environ, std::string(1, '\0') + want + std::string(1, '\0'))) {
      return static_cast<pid_t>(std::stol(pid));
    }
  }
  return -1;
}

struct SignalledRun {
  int status = 0;
  std::string output;
  double seconds_after_signal = 0;
  bool started = false, finished = false;
};

// Starts a long 2-rank run, sends `signal` to rank 1 once training is under way, and waits up to
// 60 s for the job to end.
SignalledRun signal_rank_one(const TempDir& dir, int signal) {
  const std::string config = write_config(
      dir, "long.toml",
      tiny_cnn_config("source = \"synthetic\"\nsize = 64\n", "type = \"sgd\"\nlr = 0.01\n",
                      "epochs = 100000\nbatch = 8\nseed = 3\nlog_every = 1\n"));
  const std::string out = dir.path("out");
  std::vector<std::string> args = mpirun_prefix(2);
  for (const char* a : {"train", config.c_str(), "--device", "cpu", "--no-plot", "--out", out.c_str()}) args.push_back(a);
  kiln::testing::Child c = kiln::testing::spawn(args);
  SignalledRun r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  r.started = kiln::testing::read_until(c.out, r.output, "step 3/", deadline);
  const pid_t victim = r.started ? rank_pid(out, 1) : -1;
  const auto signalled = std::chrono::steady_clock::now();
  if (victim > 0) kill(victim, signal);
  r.finished = kiln::testing::read_until(c.out, r.output, "", deadline);
  r.seconds_after_signal = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  if (!r.finished) kill(c.pid, SIGKILL);
  waitpid(c.pid, &r.status, 0);
  close(c.out);
  if (victim <= 0) r.output += "\n(test: rank 1's process was not found)";
  return r;
}

TEST(DataParallel, SigintOnOneRankStopsEveryRankWithACheckpoint) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  const SignalledRun r = signal_rank_one(dir, SIGINT);
  ASSERT_TRUE(r.started) << "no progress line within 60 s:\n" << r.output;
  ASSERT_TRUE(r.finished) << "the job did not stop within 60 s of SIGINT to rank 1:\n" << r.output;
  ASSERT_TRUE(WIFEXITED(r.status)) << r.output;
  EXPECT_EQ(WEXITSTATUS(r.status), 130) << r.output;
  EXPECT_TRUE(contains(r.output, "checkpoint saved to " + dir.path("out") + "/checkpoint.safetensors")) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir.path("out/checkpoint.safetensors")));
}

TEST(DataParallel, AKilledRankEndsTheJobWithAnErrorNamingIt) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  const SignalledRun r = signal_rank_one(dir, SIGKILL);
  ASSERT_TRUE(r.started) << "no progress line within 60 s:\n" << r.output;
  ASSERT_TRUE(r.finished) << "the job did not end within 60 s of SIGKILL to rank 1:\n" << r.output;
  EXPECT_LT(r.seconds_after_signal, 30.0) << r.output;
  EXPECT_FALSE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  EXPECT_TRUE(contains(r.output, "rank 1")) << r.output;
}

}  // namespace
}  // namespace kiln::train_test
