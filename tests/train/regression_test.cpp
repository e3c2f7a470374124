// Regression ([data] source = "csv", task = "regression"): float targets through the trainer,
// an exact hand-derived SGD step of a tiny MLP, training to a good R², `kiln eval --json`'s rmse
// and r2, the test file standardised with the training file's statistics, and bad data.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/data/csv.h"
#include "tests/train/helpers.h"
#include "tools/train/data_sources.h"

namespace kiln::train_test {
namespace {

const std::string kKiln = KILN_BINARY;
CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

// A 2-2-1 MLP (fc1, ReLU, fc2) with MSELoss on a CSV with columns x1, x2, y.
std::string mlp_config(const std::string& train_file, const std::string& test_file, const std::string& solver,
                       const std::string& train, int hidden = 2, const std::string& data_extra = "") {
  return fmt::format(
      "[model]\nname = \"reg\"\ninput = [2]\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc1\"\nout_features = {}\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu1\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc2\"\nout_features = 1\n\n"
      "[[layer]]\ntype = \"MSELoss\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"csv\"\ntask = \"regression\"\ntrain_file = \"{}\"\n{}{}\n"
      "[solver]\n{}\n[train]\n{}",
      hidden, train_file, test_file.empty() ? "" : fmt::format("test_file = \"{}\"\n", test_file), data_extra, solver,
      train);
}

// The MLP's parameters, in the layout of Linear (weight (out, in), bias (out)).
struct Mlp {
  std::array<double, 4> w1;  // (2, 2)
  std::array<double, 2> b1;
  std::array<double, 2> w2;  // (1, 2)
  double b2;
};

// The loss layers and their derivative in the prediction p for a residual d = p - y, of one
// target (the layers take the mean over the N*T targets, so the gradient is this / N here).
enum class Loss { Mse, L1, Huber };
constexpr double kHuberDelta = 2.0;
double loss_slope(Loss loss, double d) {
  switch (loss) {
    case Loss::Mse: return 2 * d;                                     // (d²)' = 2d
    case Loss::L1: return d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;           // |d|' = sign(d)
    case Loss::Huber: return std::clamp(d, -kHuberDelta, kHuberDelta);  // d²/2 inside delta, delta |d| beyond
  }
  return 0;
}

// One plain SGD step by hand on `rows` (x1, x2, y): forward, the loss = mean over the N rows (one
// target each) of loss(p - y), its gradient loss'(p - y) / N back through fc2, ReLU and fc1.
Mlp sgd_step_by_hand(const Mlp& m, const std::vector<std::array<double, 3>>& rows, double lr,
                     Loss loss = Loss::Mse) {
  Mlp g{};
  const double n = static_cast<double>(rows.size());
  for (const auto& r : rows) {
    std::array<double, 2> z{}, h{};
    for (int j = 0; j < 2; ++j) {
      z[j] = m.w1[2 * j] * r[0] + m.w1[2 * j + 1] * r[1] + m.b1[j];
      h[j] = z[j] > 0 ? z[j] : 0;
    }
    const double p = m.w2[0] * h[0] + m.w2[1] * h[1] + m.b2;
    const double dp = loss_slope(loss, p - r[2]) / n;
    g.b2 += dp;
    for (int j = 0; j < 2; ++j) {
      g.w2[j] += dp * h[j];
      const double dz = z[j] > 0 ? dp * m.w2[j] : 0;
      g.b1[j] += dz;
      g.w1[2 * j] += dz * r[0];
      g.w1[2 * j + 1] += dz * r[1];
    }
  }
  Mlp out = m;
  for (int i = 0; i < 4; ++i) out.w1[i] -= lr * g.w1[i];
  for (int j = 0; j < 2; ++j) {
    out.b1[j] -= lr * g.b1[j];
    out.w2[j] -= lr * g.w2[j];
  }
  out.b2 -= lr * g.b2;
  return out;
}

void write_weights(const std::string& path, const Mlp& m) {
  auto tensor = [](const std::vector<double>& v, Shape shape) {
    std::vector<float> f(v.begin(), v.end());
    return Tensor::from_host(std::span<const float>(f), shape, Device::cpu());
  };
  const Tensor w1 = tensor({m.w1.begin(), m.w1.end()}, Shape{2, 2}), b1 = tensor({m.b1.begin(), m.b1.end()}, Shape{2});
  const Tensor w2 = tensor({m.w2.begin(), m.w2.end()}, Shape{1, 2}), b2 = tensor({m.b2}, Shape{1});
  write_safetensors(path, {{"fc1.weight", &w1}, {"fc1.bias", &b1}, {"fc2.weight", &w2}, {"fc2.bias", &b2}}, {});
}

void expect_checkpoint_holds(const std::string& checkpoint, const Mlp& want) {
  const SafetensorsFile f = read_safetensors(checkpoint);
  auto expect = [&](const std::string& name, const std::vector<double>& values) {
    ASSERT_TRUE(f.tensors.count(name)) << name;
    const std::vector<float>& got = f.tensors.at(name).values;
    ASSERT_EQ(got.size(), values.size()) << name;
    for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(got[i], values[i], 1e-6) << name << "[" << i << "]";
  };
  expect("fc1.weight", {want.w1.begin(), want.w1.end()});
  expect("fc1.bias", {want.b1.begin(), want.b1.end()});
  expect("fc2.weight", {want.w2.begin(), want.w2.end()});
  expect("fc2.bias", {want.b2});
}

// Initial weights with both hidden units active on the first row and one dead on the second (both ReLU
// branches).
const Mlp kStart{.w1 = {0.5, -0.25, -0.75, 0.5}, .b1 = {0.1, -0.2}, .w2 = {0.8, -0.6}, .b2 = 0.05};
const std::vector<std::array<double, 3>> kRows = {{1.0, 2.0, 3.0}, {-1.5, 0.5, -2.0}};

void one_step(int64_t batch, const std::vector<std::array<double, 3>>& rows_seen, Loss loss = Loss::Mse) {
  TempDir dir;
  std::string csv = "x1,x2,y\n";
  for (const auto& r : kRows) csv += fmt::format("{},{},{}\n", r[0], r[1], r[2]);
  write_file(dir.path("train.csv"), csv);
  std::string text =
      mlp_config(dir.path("train.csv"), "", "type = \"sgd\"\nlr = 0.1\nmomentum = 0.0\nweight_decay = 0.0\n",
                 fmt::format("epochs = 1\nbatch = {}\nshuffle = false\nseed = 1\nlog_every = 1\n", batch));
  if (loss != Loss::Mse) {
    text.replace(text.find("\"MSELoss\""), 9,
                 loss == Loss::L1 ? "\"L1Loss\"" : fmt::format("\"HuberLoss\"\ndelta = {}", kHuberDelta));
  }
  const std::string config = write_config(dir, "reg.toml", text);
  write_weights(dir.path("start.safetensors"), kStart);
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.weights = dir.path("start.safetensors");
  o.steps = 1;
  const TrainResult r = run_training(config, o);
  EXPECT_TRUE(r.regression);
  EXPECT_EQ(r.steps, 1);
  expect_checkpoint_holds(dir.path("out/checkpoint.safetensors"), sgd_step_by_hand(kStart, rows_seen, 0.1, loss));
}

TEST(Regression, OneSgdStepOfBatchOneGivesTheHandDerivedWeights) { one_step(1, {kRows[0]}); }

// Batch 2: MSELoss is a mean over the N*T = 2 targets, so the gradient is halved per row.
TEST(Regression, OneSgdStepOfBatchTwoAveragesOverTheRows) { one_step(2, kRows); }

// L1Loss (sign of the residual) and HuberLoss with delta 2 (row 1's residual -2.9 is clamped to
// -2, row 2's 1.345 is inside: both branches), the same step by hand.
TEST(Regression, OneSgdStepWithL1LossGivesTheHandDerivedWeights) { one_step(2, kRows, Loss::L1); }
TEST(Regression, OneSgdStepWithHuberLossGivesTheHandDerivedWeights) { one_step(2, kRows, Loss::Huber); }

// y = 2 x1 - 3 x2 + 1 + noise (sd 0.1), x uniform in [-1, 1]; returns the CSV text.
std::string noisy_linear_csv(int rows, uint32_t seed, std::vector<double>* targets) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::normal_distribution<double> noise(0, 0.1);
  std::string csv = "x1,x2,y\n";
  for (int i = 0; i < rows; ++i) {
    const double x1 = u(rng), x2 = u(rng), y = 2 * x1 - 3 * x2 + 1 + noise(rng);
    csv += fmt::format("{:.6f},{:.6f},{:.6f}\n", x1, x2, y);
    if (targets) targets->push_back(std::stod(fmt::format("{:.6f}", y)));
  }
  return csv;
}

TEST(Regression, NoisyLinearDataTrainsToAGoodR2AndEvalAgrees) {
  TempDir dir;
  std::vector<double> test_y;
  write_file(dir.path("train.csv"), noisy_linear_csv(256, 1, nullptr));
  write_file(dir.path("test.csv"), noisy_linear_csv(64, 2, &test_y));
  const std::string config = write_config(
      dir, "reg.toml",
      mlp_config(dir.path("train.csv"), dir.path("test.csv"), "type = \"adam\"\nlr = 0.02\n",
                 "epochs = 30\nbatch = 16\nseed = 3\nlog_every = 8\n", 16, "standardize = true\n"));
  const CommandResult t = kiln(fmt::format("train {} --device cpu --out {} --no-plot", config, dir.path("out")));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  EXPECT_TRUE(contains(t.output, "test RMSE")) << t.output;
  EXPECT_TRUE(contains(t.output, "R²")) << t.output;
  EXPECT_FALSE(contains(t.output, "accuracy")) << t.output;
  const std::string metrics = read_file(dir.path("out/metrics.csv"));
  EXPECT_TRUE(metrics.starts_with(
      "kind,epoch,step,lr,train_loss,train_rmse,test_loss,test_rmse,test_r2,samples_per_second,seconds\n"))
      << metrics;

  const CommandResult e =
      kiln(fmt::format("eval {} --device cpu --json --weights {}", config, dir.path("out/checkpoint.safetensors")));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  double loss = 0, rmse = 0, r2 = 0;
  int samples = 0;
  ASSERT_EQ(std::sscanf(e.output.c_str(), "{\"loss\": %lf, \"rmse\": %lf, \"r2\": %lf, \"samples\": %d}", &loss, &rmse,
                        &r2, &samples),
            4)
      << e.output;
  EXPECT_EQ(samples, 64);
  EXPECT_GT(r2, 0.95) << e.output;
  EXPECT_LT(rmse, 0.5) << e.output;
  // MSELoss is the mean squared error: RMSE² (to the printed digits).
  EXPECT_NEAR(rmse * rmse, loss, 1e-5 + 1e-4 * loss) << e.output;
  // R² = 1 - SSE/SST with SST over the test targets: 1 - MSE / (their variance).
  double mean = 0, var = 0;
  for (double y : test_y) mean += y / static_cast<double>(test_y.size());
  for (double y : test_y) var += (y - mean) * (y - mean) / static_cast<double>(test_y.size());
  EXPECT_NEAR(r2, 1 - loss / var, 1e-4) << e.output;
  RecordProperty("test_rmse", fmt::format("{:.4f}", rmse));
  RecordProperty("test_r2", fmt::format("{:.4f}", r2));
}

// Two target columns: RMSE over all values, R² the mean of the columns'.
TEST(Regression, SeveralTargetColumnsTrain) {
  TempDir dir;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  std::string csv = "a,b,y1,y2\n";
  for (int i = 0; i < 128; ++i) {
    const double a = u(rng), b = u(rng);
    csv += fmt::format("{:.5f},{:.5f},{:.5f},{:.5f}\n", a, b, a + b, a - 2 * b);
  }
  write_file(dir.path("train.csv"), csv);
  const std::string config = write_config(
      dir, "reg.toml",
      "[model]\nname = \"reg2\"\ninput = [2]\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = 2\n\n"
      "[[layer]]\ntype = \"MSELoss\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"csv\"\ntask = \"regression\"\ntarget_columns = [2, 3]\ntrain_file = \"" +
          dir.path("train.csv") + "\"\ntest_file = \"" + dir.path("train.csv") +
          "\"\n\n[solver]\ntype = \"adam\"\nlr = 0.05\n\n[train]\nepochs = 40\nbatch = 16\nseed = 1\nlog_every = 8\n");
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(r.test_r2.has_value());
  EXPECT_GT(*r.test_r2, 0.99);
  EXPECT_LT(*r.test_rmse, 0.1);
  EXPECT_FALSE(r.test_accuracy.has_value());
}

// The test file is standardised with the training file's mean and standard deviation.
TEST(Regression, TheTestFileIsStandardisedWithTheTrainingStatistics) {
  TempDir dir;
  write_file(dir.path("train.csv"), "x,y\n0,1\n2,2\n");  // mean 1, std 1
  write_file(dir.path("test.csv"), "x,y\n1,0\n5,0\n");
  const std::string config = write_config(
      dir, "reg.toml",
      "[model]\nname = \"s\"\ninput = [1]\n\n[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = 1\n\n"
      "[[layer]]\ntype = \"MSELoss\"\nname = \"loss\"\n\n[data]\nsource = \"csv\"\ntask = \"regression\"\n"
      "standardize = true\ntrain_file = \"" + dir.path("train.csv") + "\"\ntest_file = \"" + dir.path("test.csv") +
          "\"\n\n[train]\nbatch = 2\n");
  const DataSplits d = make_datasets(load_config(config));
  ASSERT_TRUE(d.test);
  auto value = [](const data::Dataset& ds, int64_t i) {
    float x = 0, y = 0;
    ds.get(i, data::SampleContext{}, &x, nullptr, &y);
    return x;
  };
  EXPECT_FLOAT_EQ(value(*d.train, 0), -1.0f);
  EXPECT_FLOAT_EQ(value(*d.train, 1), 1.0f);
  EXPECT_FLOAT_EQ(value(*d.test, 0), 0.0f);  // (1 - 1) / 1, not the test file's own mean 3
  EXPECT_FLOAT_EQ(value(*d.test, 1), 4.0f);
}

// Bad data: one error naming the file and the line.
TEST(Regression, BadTargetsAreRefusedNamingFileAndLine) {
  TempDir dir;
  write_file(dir.path("bad.csv"), "x1,x2,y\n1,2,3\n4,5,abc\n");
  const std::string config = write_config(
      dir, "reg.toml", mlp_config(dir.path("bad.csv"), "", "type = \"sgd\"\nlr = 0.1\n", "epochs = 1\nbatch = 1\n"));
  const CommandResult r = kiln(fmt::format("train {} --device cpu --out {} --no-plot", config, dir.path("out")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, dir.path("bad.csv") + " line 3 column 3: 'abc' is not a number")) << r.output;

  write_file(dir.path("good.csv"), "x1,x2,y\n1,2,3\n4,5,6\n");
  const std::string out_of_range = write_config(
      dir, "range.toml",
      mlp_config(dir.path("good.csv"), "", "type = \"sgd\"\nlr = 0.1\n", "epochs = 1\nbatch = 1\n", 2,
                 "target_columns = [5]\n"));
  const CommandResult o = kiln(fmt::format("train {} --device cpu --out {} --no-plot", out_of_range, dir.path("out")));
  EXPECT_NE(o.exit_code, 0);
  EXPECT_TRUE(contains(o.output, dir.path("good.csv") + " line 1: target column 5 is out of range: the file has 3 "
                                                        "columns"))
      << o.output;
}

// A classification loss on regression data (and the reverse) is refused at the loss's line.
TEST(Regression, ALossThatDoesNotSuitTheTaskIsRefusedAtItsLine) {
  TempDir dir;
  write_file(dir.path("train.csv"), "x1,x2,y\n1,2,3\n4,5,6\n");
  std::string text = mlp_config(dir.path("train.csv"), "", "type = \"sgd\"\nlr = 0.1\n", "epochs = 1\nbatch = 1\n");
  text.replace(text.find("MSELoss"), 7, "SoftmaxCrossEntropy");
  const std::string config = write_config(dir, "xent.toml", text);
  const CommandResult r = kiln(fmt::format("train {} --device cpu --out {} --no-plot", config, dir.path("out")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, config + ":19: the loss layer 'loss' is SoftmaxCrossEntropy")) << r.output;
  EXPECT_TRUE(contains(r.output, "type = \"MSELoss\"")) << r.output;

  write_file(dir.path("labels.csv"), "x1,x2,y\n1,2,0\n4,5,1\n");
  std::string cls = mlp_config(dir.path("labels.csv"), "", "type = \"sgd\"\nlr = 0.1\n", "epochs = 1\nbatch = 1\n");
  cls.replace(cls.find("task = \"regression\""), 19, "task = \"classification\"");
  const std::string cls_config = write_config(dir, "cls.toml", cls);
  const CommandResult c = kiln(fmt::format("train {} --device cpu --out {} --no-plot", cls_config, dir.path("out")));
  EXPECT_NE(c.exit_code, 0);
  EXPECT_TRUE(contains(c.output, cls_config + ":19: the loss layer 'loss' is MSELoss, a regression loss")) << c.output;
}

// A regression model evaluated with `kiln eval` (no --json) names RMSE and R².
TEST(Regression, EvalPrintsRmseAndR2) {
  TempDir dir;
  write_file(dir.path("train.csv"), noisy_linear_csv(32, 4, nullptr));
  const std::string config = write_config(
      dir, "reg.toml", mlp_config(dir.path("train.csv"), "", "type = \"sgd\"\nlr = 0.05\n", "epochs = 1\nbatch = 8\n"));
  const CommandResult t = kiln(fmt::format("train {} --device cpu --out {} --no-plot", config, dir.path("out")));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const CommandResult e =
      kiln(fmt::format("eval {} --device cpu --weights {}", config, dir.path("out/checkpoint.safetensors")));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(e.output, "RMSE")) << e.output;
  EXPECT_TRUE(contains(e.output, "R²")) << e.output;
  EXPECT_TRUE(contains(e.output, "on 32 samples")) << e.output;
}

// The shipped config on a small table from the shipped generator (the paths pointed at it): trains
// and beats predicting the mean (R² > 0.5 after 3 epochs).
TEST(Regression, ShippedFriedmanConfigTrainsOnTheGeneratedTable) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 to run the generator";
  TempDir dir;
  const std::string source = KILN_SOURCE_DIR;
  const CommandResult g = run_command(fmt::format("/usr/bin/python3 {}/tools/make_regression_csv.py {} --train 1000 "
                                                  "--test 200", source, dir.path("friedman1")));
  ASSERT_EQ(g.exit_code, 0) << g.output;
  std::string text = read_file(source + "/models/regression_friedman.toml");
  const std::string generated = fmt::format("\"{}/", dir.path("friedman1"));
  for (size_t at; (at = text.find("\"data/friedman1/")) != std::string::npos;) text.replace(at, 16, generated);
  const std::string config = write_config(dir, "friedman.toml", text);
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.epochs = 3;
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(r.test_r2.has_value());
  EXPECT_GT(*r.test_r2, 0.5);
  EXPECT_LT(*r.test_rmse, 3.5);
}

// Data-parallel (mpirun -np 2): the evaluation's sums (SSE and the targets' sums per column) are
// added over the ranks, so `kiln eval` gives the single process's RMSE and R².
TEST(DataParallelRegression, TwoRanksEvaluateLikeOneProcess) {
  const std::string mpiexec = KILN_MPIEXEC;
  if (mpiexec.empty()) GTEST_SKIP() << "this kiln was built without MPI";
  TempDir dir;
  write_file(dir.path("train.csv"), noisy_linear_csv(64, 6, nullptr));
  write_file(dir.path("test.csv"), noisy_linear_csv(37, 7, nullptr));  // odd: the ranks' shares differ
  const std::string config = write_config(
      dir, "reg.toml",
      mlp_config(dir.path("train.csv"), dir.path("test.csv"), "type = \"adam\"\nlr = 0.02\n",
                 "epochs = 2\nbatch = 8\nseed = 3\nlog_every = 4\n", 8));
  const CommandResult t = kiln(fmt::format("train {} --device cpu --out {} --no-plot", config, dir.path("out")));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const std::string eval = fmt::format("eval {} --device cpu --json --weights {}", config,
                                       dir.path("out/checkpoint.safetensors"));
  const CommandResult one = kiln(eval);
  const CommandResult two = run_command(fmt::format(
      "/usr/bin/env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 {} "
      "-np 2 --bind-to none {} {}", mpiexec, kKiln, eval));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  ASSERT_EQ(two.exit_code, 0) << two.output;
  double l1 = 0, r1 = 0, q1 = 0, l2 = 0, r2 = 0, q2 = 0;
  int n1 = 0, n2 = 0;
  const char* format = "{\"loss\": %lf, \"rmse\": %lf, \"r2\": %lf, \"samples\": %d}";
  ASSERT_EQ(std::sscanf(one.output.c_str(), format, &l1, &r1, &q1, &n1), 4) << one.output;
  ASSERT_EQ(std::sscanf(two.output.c_str(), format, &l2, &r2, &q2, &n2), 4) << two.output;
  EXPECT_EQ(n1, 37);
  EXPECT_EQ(n2, 37);
  EXPECT_NEAR(l1, l2, 1e-5);
  EXPECT_NEAR(r1, r2, 1e-5);
  EXPECT_NEAR(q1, q2, 1e-5);
}

}  // namespace
}  // namespace kiln::train_test
