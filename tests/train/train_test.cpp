// Training end to end, in-process: solvers against a hand computation, loss falls, resume equals
// the uninterrupted run bit for bit, --weights, checkpoints refused without being half-applied, an
// image-folder data set made here, AlexNet configs, and (device builds) CPU vs cuda:0 losses.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "core/data/jpeg.h"
#include "core/device.h"
#include "tools/train/checkpoint.h"
#include "tools/train/solver.h"
#include "layers/registry.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Solvers: two steps of Solver on a 1-layer net (Linear 3 -> 2, MSE loss) against the update rules
// of torch.optim (SGD, Adam, AdamW) computed here in double, gradients included. The elementwise
// kernels themselves are checked on many sizes in tests/reference (OptimReference.*); this checks
// the Solver around them: the config reaching the kernels, the step count (momentum start, Adam bias
// correction), state per parameter, and clipping's grad_scale.

struct HandNet {  // y = x W^T + b, loss = mean((y - t)^2)
  static constexpr int N = 4, I = 3, O = 2;
  std::vector<double> x, t, w, b;
  HandNet() {
    for (int i = 0; i < N * I; ++i) x.push_back(0.25 * ((i * 7) % 11) - 1.0);
    for (int i = 0; i < N * O; ++i) t.push_back(0.3 * ((i * 5) % 7) - 0.7);
    for (int i = 0; i < O * I; ++i) w.push_back(0.1 * (i % 5) - 0.2);
    for (int i = 0; i < O; ++i) b.push_back(0.05 * (i + 1));
  }
  // Gradients of the loss with respect to w and b.
  void grads(std::vector<double>& gw, std::vector<double>& gb) const {
    gw.assign(w.size(), 0.0);
    gb.assign(b.size(), 0.0);
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < O; ++o) {
        double y = b[o];
        for (int i = 0; i < I; ++i) y += x[n * I + i] * w[o * I + i];
        const double d = 2.0 * (y - t[n * O + o]) / (N * O);
        for (int i = 0; i < I; ++i) gw[o * I + i] += d * x[n * I + i];
        gb[o] += d;
      }
  }
};

struct HandState {
  std::vector<double> a, v;  // momentum buffer or Adam's m; Adam's v
};

// torch.optim's rules, in double.
void hand_update(const SolverConfig& c, int64_t t, double lr, double scale, std::vector<double>& p,
                 const std::vector<double>& grad, HandState& s) {
  s.a.resize(p.size(), 0.0);
  s.v.resize(p.size(), 0.0);
  for (size_t i = 0; i < p.size(); ++i) {
    double g = grad[i] * scale;
    if (c.type == "sgd") {
      g += c.weight_decay * p[i];
      if (c.momentum != 0) {
        s.a[i] = t == 1 ? g : c.momentum * s.a[i] + (1 - c.dampening) * g;
        g = c.nesterov ? g + c.momentum * s.a[i] : s.a[i];
      }
      p[i] -= lr * g;
    } else {
      if (c.type == "adamw") p[i] *= 1 - lr * c.weight_decay;
      else g += c.weight_decay * p[i];
      s.a[i] = c.beta1 * s.a[i] + (1 - c.beta1) * g;
      s.v[i] = c.beta2 * s.v[i] + (1 - c.beta2) * g * g;
      const double mhat = s.a[i] / (1 - std::pow(c.beta1, t)), vhat = s.v[i] / (1 - std::pow(c.beta2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + c.eps);
    }
  }
}

struct SolverCase {
  const char* label;
  SolverConfig config;
  float grad_scale;
};

void PrintTo(const SolverCase& c, std::ostream* os) { *os << c.label; }

class SolverHand : public ::testing::TestWithParam<SolverCase> {};

TEST_P(SolverHand, TwoStepsMatchTheHandComputation) {
  const SolverCase& c = GetParam();
  HandNet hand;
  Net net;
  net.add_input("x");
  net.add_input("t");
  net.add(layers::make_layer({"Linear", "fc", {}, {{"out_features", int64_t{HandNet::O}}}}), {"x"});
  net.add(layers::make_layer({"MSELoss", "loss", {}, {}}), {"fc", "t"});
  net.setup({{"x", Shape{HandNet::N, HandNet::I}}, {"t", Shape{HandNet::N, HandNet::O}}});
  net.init_parameters(1);
  auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  auto params = net.parameters();
  ASSERT_EQ(params.size(), 2u);
  ASSERT_EQ(params[0].name, "fc.weight");
  // Start from float-representable values so the hand computation starts where the net does.
  for (double& v : hand.w) v = static_cast<float>(v);
  for (double& v : hand.b) v = static_cast<float>(v);
  std::memcpy(params[0].param->value.data<float>(), as_float(hand.w).data(), hand.w.size() * 4);
  std::memcpy(params[1].param->value.data<float>(), as_float(hand.b).data(), hand.b.size() * 4);
  const auto xf = as_float(hand.x), tf = as_float(hand.t);
  for (double& v : hand.x) v = static_cast<float>(v);
  for (double& v : hand.t) v = static_cast<float>(v);
  const Tensor x = Tensor::from_host(std::span<const float>(xf), Shape{HandNet::N, HandNet::I});
  const Tensor t = Tensor::from_host(std::span<const float>(tf), Shape{HandNet::N, HandNet::O});

  Solver solver(c.config, net);
  HandState sw, sb;
  const double lrs[2] = {c.config.lr, c.config.lr * 0.5};  // a schedule's change between steps
  for (int step = 1; step <= 2; ++step) {
    net.zero_grad();
    net.forward({{"x", &x}, {"t", &t}});
    net.backward();
    solver.step(lrs[step - 1], c.grad_scale);
    std::vector<double> gw, gb;
    hand.grads(gw, gb);
    hand_update(c.config, step, static_cast<float>(lrs[step - 1]), c.grad_scale, hand.w, gw, sw);
    hand_update(c.config, step, static_cast<float>(lrs[step - 1]), c.grad_scale, hand.b, gb, sb);
    const std::vector<float> w = params[0].param->value.to_host(), b = params[1].param->value.to_host();
    for (size_t i = 0; i < w.size(); ++i)
      EXPECT_NEAR(w[i], hand.w[i], 2e-6 + 2e-6 * std::abs(hand.w[i])) << c.label << " step " << step << " w[" << i << "]";
    for (size_t i = 0; i < b.size(); ++i)
      EXPECT_NEAR(b[i], hand.b[i], 2e-6 + 2e-6 * std::abs(hand.b[i])) << c.label << " step " << step << " b[" << i << "]";
  }
  EXPECT_EQ(solver.steps(), 2);
  // The state is named as torch.optim names it, one entry per parameter and state buffer.
  const auto state = solver.state();
  if (c.config.type == "sgd") {
    ASSERT_EQ(state.size(), c.config.momentum != 0 ? 2u : 0u);
    if (!state.empty()) {
      EXPECT_EQ(state[0].name, "fc.weight.momentum_buffer");
    }
  } else {
    ASSERT_EQ(state.size(), 4u);
    EXPECT_EQ(state[0].name, "fc.weight.exp_avg");
    EXPECT_EQ(state[1].name, "fc.weight.exp_avg_sq");
    const std::vector<float> m = state[0].tensor->to_host();
    for (size_t i = 0; i < m.size(); ++i) EXPECT_NEAR(m[i], sw.a[i], 1e-6 + 1e-5 * std::abs(sw.a[i]));
  }
}

SolverConfig solver_config(const char* type, double lr, double momentum, bool nesterov, double wd, double dampening = 0) {
  SolverConfig c;
  c.type = type;
  c.lr = lr;
  c.momentum = momentum;
  c.nesterov = nesterov;
  c.weight_decay = wd;
  c.dampening = dampening;
  return c;
}

INSTANTIATE_TEST_SUITE_P(Solvers, SolverHand,
                         ::testing::Values(SolverCase{"sgd_plain", solver_config("sgd", 0.1, 0, false, 0), 1.0f},
                                           SolverCase{"sgd_momentum_wd", solver_config("sgd", 0.1, 0.9, false, 0.01), 1.0f},
                                           SolverCase{"sgd_dampening_clip", solver_config("sgd", 0.1, 0.9, false, 0, 0.3), 0.5f},
                                           SolverCase{"sgd_nesterov_wd", solver_config("sgd", 0.1, 0.9, true, 0.01), 1.0f},
                                           SolverCase{"adam_wd", solver_config("adam", 0.01, 0, false, 0.01), 1.0f},
                                           SolverCase{"adamw_clip", solver_config("adamw", 0.01, 0, false, 0.1), 0.25f}),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(GradientNorm, IsTheGlobalL2NormOfAllParameterGradients) {
  Net net;
  net.add_input("x");
  net.add_input("t");
  net.add(layers::make_layer({"Linear", "fc", {}, {{"out_features", int64_t{2}}}}), {"x"});
  net.add(layers::make_layer({"MSELoss", "loss", {}, {}}), {"fc", "t"});
  net.setup({{"x", Shape{1, 2}}, {"t", Shape{1, 2}}});
  net.init_parameters(1);
  for (const auto& p : net.parameters()) {
    float* g = p.param->grad.data<float>();
    for (int64_t i = 0; i < p.param->grad.numel(); ++i) g[i] = p.name == "fc.bias" ? 2.0f : 1.0f;
  }
  EXPECT_DOUBLE_EQ(gradient_norm(net), std::sqrt(4.0 * 1 + 2 * 4.0));
}

// ---------------------------------------------------------------------------------------------
// Loss falls and accuracy is reached on a small linearly separable problem (CSV made here).

TEST(Training, SeparableCsvProblemIsLearned) {
  TempDir dir;
  std::string csv = "x0,x1,label\n";
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int i = 0; i < 128; ++i) {
    const double a = u(rng), b = u(rng);
    if (std::abs(a + 2 * b) < 0.1) continue;  // a margin
    csv += fmt::format("{:.4f},{:.4f},{}\n", a, b, a + 2 * b > 0 ? 1 : 0);
  }
  write_file(dir.path("data.csv"), csv);
  const std::string config = write_config(dir, "sep.toml",
                                          "[model]\nname = \"sep\"\ninput = [2]\nclasses = 2\n\n"
                                          "[[layer]]\ntype = \"Linear\"\nname = \"fc1\"\nout_features = 8\n\n"
                                          "[[layer]]\ntype = \"Tanh\"\nname = \"act\"\n\n"
                                          "[[layer]]\ntype = \"Linear\"\nname = \"fc2\"\nout_features = 2\n\n"
                                          "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
                                          "[data]\nsource = \"csv\"\ntrain_file = \"" + dir.path("data.csv") +
                                              "\"\ntest_file = \"" + dir.path("data.csv") + "\"\nworkers = 0\n\n"
                                          "[solver]\ntype = \"adam\"\nlr = 0.05\n\n"
                                          "[train]\nepochs = 15\nbatch = 16\nseed = 3\nlog_every = 4\n");
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  const auto rows = train_losses(dir.path("out/metrics.csv"));
  ASSERT_GE(rows.size(), 10u);
  EXPECT_LT(mean_loss(rows, rows.size() - 3, rows.size()), 0.5 * mean_loss(rows, 0, 3));
  ASSERT_TRUE(r.test_accuracy.has_value());
  EXPECT_GE(*r.test_accuracy, 0.95);
  EXPECT_TRUE(std::filesystem::exists(dir.path("out/checkpoint.safetensors")));
}

// ---------------------------------------------------------------------------------------------
// Resume equals uninterrupted, bit for bit on the CPU: dropout (layer RNG state), shuffled data
// (loader position), momentum (solver state), warm-up + cosine schedule (the step), stopped
// mid-epoch and at an epoch's end.



// Runs `config` whole, then stopped after each of `stops` steps and resumed: the same losses and the
// same final checkpoint, bit for bit.
void expect_resume_equals_uninterrupted(const TempDir& dir, const std::string& config, std::vector<int64_t> stops) {
  TrainOptions full;
  full.out_dir = dir.path("full");
  EXPECT_EQ(run_training(config, full).steps, 15);
  const auto full_rows = train_losses(dir.path("full/metrics.csv"));
  ASSERT_EQ(full_rows.size(), 15u);

  for (int64_t k : stops) {
    SCOPED_TRACE(fmt::format("stopped at step {}", k));
    const std::string out = dir.path(fmt::format("part{}", k));
    TrainOptions first;
    first.out_dir = out;
    first.steps = k;
    const TrainResult r1 = run_training(config, first);
    EXPECT_EQ(r1.steps, k);
    const std::string saved = out + "/stopped.safetensors";
    std::filesystem::copy_file(r1.checkpoint, saved);
    TrainOptions second;
    second.out_dir = out;
    second.resume = saved;
    const TrainResult r2 = run_training(config, second);
    EXPECT_EQ(r2.steps, 15);
    expect_same_checkpoints(dir.path("full/checkpoint.safetensors"), out + "/checkpoint.safetensors");
    const auto rows = train_losses(out + "/metrics.csv");  // the first run's rows, then the resumed run's
    ASSERT_EQ(rows.size(), 15u);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i].first, full_rows[i].first);
      EXPECT_EQ(rows[i].second, full_rows[i].second) << "loss of step " << rows[i].first;
    }
  }
}

TEST(Resume, EqualsTheUninterruptedRunBitForBit) {
  TempDir dir;
  expect_resume_equals_uninterrupted(dir, resume_config(dir), {5, 7});  // the first epoch's end (5 steps each); mid-epoch
}

// BatchNorm's running statistics are in the checkpoint (PyTorch's names) and restored by a resume.
TEST(Resume, RestoresBatchNormRunningStatistics) {
  TempDir dir;
  const std::string config = resume_config(dir, "", /*batchnorm=*/true);
  expect_resume_equals_uninterrupted(dir, config, {7});
  const SafetensorsFile f = read_safetensors(dir.path("full/checkpoint.safetensors"));
  ASSERT_TRUE(f.tensors.contains("bn1.running_mean"));
  ASSERT_TRUE(f.tensors.contains("bn1.running_var"));
  EXPECT_NE(f.tensors.at("bn1.running_var").values, std::vector<float>(4, 1.0f));  // moved from its start
}

TEST(Resume, RefusesAnotherSeed) {
  TempDir dir;
  const std::string config = resume_config(dir);
  TrainOptions first;
  first.out_dir = dir.path("a");
  first.steps = 2;
  const TrainResult r = run_training(config, first);
  TrainOptions second;
  second.out_dir = dir.path("b");
  second.resume = r.checkpoint;
  second.seed = 12;
  const std::string m = error_of([&] { run_training(config, second); });
  EXPECT_TRUE(contains(m, "seed 11")) << m;
  EXPECT_TRUE(contains(m, r.checkpoint)) << m;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints are checked completely before anything is applied.

TEST(Checkpoint, ARefusedCheckpointChangesNothing) {
  TempDir dir;
  const std::string config_path = write_config(dir, "tiny.toml", tiny_cnn_config());
  const RunConfig config = load_config(config_path);
  BuiltNet built = cli::build_model(config, Device::cpu());
  built.net.setup({{"data", Shape{8, 1, 8, 8}}, {"label", Shape{8}}});
  built.net.init_parameters(5);
  // A file holding conv1.* right but fc.weight of another shape: nothing may be copied.
  std::vector<Tensor> keep;
  std::vector<NamedTensor> named;
  for (const auto& p : built.net.parameters()) {
    const Shape shape = p.name == "fc.weight" ? Shape{4, 3} : p.param->value.shape();
    keep.push_back(Tensor::zeros(shape));
  }
  size_t i = 0;
  for (const auto& p : built.net.parameters()) named.push_back({p.name, &keep[i++]});
  write_safetensors(dir.path("bad.safetensors"), named, {});
  std::vector<std::vector<float>> before;
  for (const auto& p : built.net.parameters()) before.push_back(p.param->value.to_host());
  const std::string m = error_of([&] { load_weights(dir.path("bad.safetensors"), built.net); });
  EXPECT_TRUE(contains(m, "'fc.weight' has shape (4, 3), the model needs (4, 64)")) << m;
  EXPECT_TRUE(contains(m, dir.path("bad.safetensors"))) << m;
  i = 0;
  for (const auto& p : built.net.parameters()) EXPECT_EQ(p.param->value.to_host(), before[i++]) << p.name;
}

// --weights: a safetensors file written here (as PyTorch's save_file would) is loaded by name.
TEST(Weights, LoadsParametersByNameAndShape) {
  TempDir dir;
  const std::string config_path = write_config(dir, "tiny.toml", tiny_cnn_config());
  const RunConfig config = load_config(config_path);
  BuiltNet built = cli::build_model(config, Device::cpu());
  built.net.setup({{"data", Shape{8, 1, 8, 8}}, {"label", Shape{8}}});
  built.net.init_parameters(1);
  std::vector<Tensor> values;
  std::vector<std::vector<float>> expected;
  for (const auto& p : built.net.parameters()) {
    std::vector<float> v(static_cast<size_t>(p.param->value.numel()));
    for (size_t j = 0; j < v.size(); ++j) v[j] = 0.001f * static_cast<float>(j) - 0.01f * static_cast<float>(expected.size());
    expected.push_back(v);
    values.push_back(Tensor::from_host(std::span<const float>(v), p.param->value.shape()));
  }
  std::vector<NamedTensor> named;
  size_t i = 0;
  for (const auto& p : built.net.parameters()) named.push_back({p.name, &values[i++]});
  write_safetensors(dir.path("w.safetensors"), named, {{"source", "test"}});

  BuiltNet other = cli::build_model(config, Device::cpu());
  other.net.setup({{"data", Shape{8, 1, 8, 8}}, {"label", Shape{8}}});
  other.net.init_parameters(2);
  load_weights(dir.path("w.safetensors"), other.net);
  i = 0;
  for (const auto& p : other.net.parameters()) EXPECT_EQ(p.param->value.to_host(), expected[i++]) << p.name;

  // Training from them: the first step's loss is the loss of these weights (the same run twice).
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.steps = 1;
  o.weights = dir.path("w.safetensors");
  o.evaluate_each_epoch = false;
  const TrainResult a = run_training(config_path, o);
  o.out_dir = dir.path("out2");
  const TrainResult b = run_training(config_path, o);
  EXPECT_EQ(a.final_train_loss, b.final_train_loss);
  o.weights.clear();
  o.out_dir = dir.path("out3");
  EXPECT_NE(run_training(config_path, o).final_train_loss, a.final_train_loss);
}

// ---------------------------------------------------------------------------------------------
// An image folder made here: 2 classes of tiny JPEGs (reddish vs bluish, with noise); a tiny CNN
// learns them.

// Writes DIR/{train,test}/{red,blue}/NN.jpg: size x size images, reddish or bluish with noise.
void make_image_folder(const TempDir& dir, int size, int train_per_class, int test_per_class) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> noise(-40, 40);
  for (const char* split : {"train", "test"}) {
    for (int cls = 0; cls < 2; ++cls) {
      const std::string folder = dir.path(fmt::format("{}/{}", split, cls == 0 ? "red" : "blue"));
      std::filesystem::create_directories(folder);
      const int count = std::string(split) == "train" ? train_per_class : test_per_class;
      for (int n = 0; n < count; ++n) {
        data::Image img;
        img.width = img.height = size;
        img.channels = 3;
        for (int p = 0; p < size * size; ++p) {
          const int base[3] = {cls == 0 ? 170 : 90, 110, cls == 0 ? 90 : 170};
          for (int ch = 0; ch < 3; ++ch) img.pixels.push_back(static_cast<uint8_t>(std::clamp(base[ch] + noise(rng), 0, 255)));
        }
        data::write_jpeg(fmt::format("{}/{:02}.jpg", folder, n), img, 95);
      }
    }
  }
}

std::string folder_data(const TempDir& dir) {
  return "source = \"folder\"\ntrain_dir = \"" + dir.path("train") + "\"\ntest_dir = \"" + dir.path("test") +
         "\"\nhflip = true\nmean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\nworkers = 1\n";
}

TEST(Training, ImageFolderLossFalls) {
  TempDir dir;
  make_image_folder(dir, 12, 16, 4);
  const std::string config = write_config(
      dir, "folder.toml",
      tiny_cnn_config(folder_data(dir),
                      "type = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n", "epochs = 8\nbatch = 8\nseed = 2\nlog_every = 1\n",
                      "[3, 12, 12]"));
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  EXPECT_EQ(r.steps, 32);  // 32 images, batch 8, 8 epochs
  const auto rows = train_losses(dir.path("out/metrics.csv"));
  ASSERT_EQ(rows.size(), 32u);
  EXPECT_LT(mean_loss(rows, 28, 32), 0.5 * mean_loss(rows, 0, 4));
  ASSERT_TRUE(r.test_accuracy.has_value());
  EXPECT_GE(*r.test_accuracy, 0.99);
}

// ---------------------------------------------------------------------------------------------
// The shipped AlexNet configs parse, build with the published shapes and parameter counts, and
// take training steps on synthetic data on the CPU (batch 2).

struct AlexCase {
  const char* file;
  int64_t parameters;
};

void PrintTo(const AlexCase& c, std::ostream* os) { *os << c.file; }

class AlexNetConfig : public ::testing::TestWithParam<AlexCase> {};

TEST_P(AlexNetConfig, ParsesBuildsAndTrainsTwoStepsOnTheCpu) {
  const AlexCase c = GetParam();
  TempDir dir;
  const std::string path = std::string(KILN_SOURCE_DIR) + "/models/" + c.file;
  const RunConfig config = load_config(path);
  BuiltNet built = cli::build_model(config, Device::cpu());
  Shape x{1};
  for (int64_t d : config.input) x.push_back(d);
  built.net.setup({{"data", x}, {"label", Shape{1}}});
  EXPECT_EQ(built.net.parameter_count(), c.parameters);
  EXPECT_EQ(built.net.shape_of("fc8"), (Shape{1, 1000}));
  EXPECT_EQ(built.net.shape_of("pool5"), (Shape{1, 256, 6, 6}));
  if (std::getenv("KILN_TEST_SKIP_ALEXNET_STEPS")) GTEST_SKIP() << "KILN_TEST_SKIP_ALEXNET_STEPS is set";

  TrainOptions o;
  o.out_dir = dir.path("out");
  o.steps = 2;
  o.batch = 2;
  o.evaluate_each_epoch = false;
  o.checkpoints = false;  // 0.5 GB of parameters and momentum
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult r = run_training(path, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.steps, 2);
  EXPECT_TRUE(std::isfinite(r.final_train_loss));
  RecordProperty("seconds", fmt::format("{:.2f}", s));
  std::printf("%s: 2 steps at batch 2 on the CPU in %.2f s (%.2f s training; the rest is set-up)\n", c.file, s,
              r.seconds);
}

INSTANTIATE_TEST_SUITE_P(Models, AlexNetConfig,
                         ::testing::Values(AlexCase{"alexnet.toml", 60965224}, AlexCase{"alexnet_owt.toml", 61100840}),
                         [](const auto& info) { return std::string(info.param.file).substr(0, std::string(info.param.file).find('.')); });

// The ImageNet line after AlexNet (tools/make_vgg_config.py, tools/make_resnet_config.py) parses and
// builds with the reference parameter counts (torchvision's for VGG and ResNet) and the feature-map
// size the paper gives before the classifier.
struct ImageNetCase {
  const char* file;
  int64_t parameters;
  const char* features;  // the last layer before the classifier
  Shape features_shape;
};

void PrintTo(const ImageNetCase& c, std::ostream* os) { *os << c.file; }

class ImageNetConfig : public ::testing::TestWithParam<ImageNetCase> {};

TEST_P(ImageNetConfig, BuildsWithTheReferenceParameterCount) {
  const ImageNetCase c = GetParam();
  const RunConfig config = load_config(std::string(KILN_SOURCE_DIR) + "/models/" + c.file);
  BuiltNet built = cli::build_model(config, Device::cpu());
  Shape x{1};
  for (int64_t d : config.input) x.push_back(d);
  built.net.setup({{"data", x}, {"label", Shape{1}}});
  EXPECT_EQ(built.net.parameter_count(), c.parameters);
  EXPECT_EQ(built.net.shape_of(c.features), c.features_shape);
  EXPECT_EQ(built.net.shape_of(built.logits), (Shape{1, config.classes}));
}

INSTANTIATE_TEST_SUITE_P(
    Models, ImageNetConfig,
    ::testing::Values(ImageNetCase{"zfnet.toml", 62357608, "pool5", Shape{1, 256, 6, 6}},
                      ImageNetCase{"vgg16.toml", 138357544, "features.30", Shape{1, 512, 7, 7}},
                      ImageNetCase{"googlenet.toml", 6624904, "inception5b.concat", Shape{1, 1024, 7, 7}},
                      ImageNetCase{"vgg19.toml", 143667240, "features.36", Shape{1, 512, 7, 7}},
                      ImageNetCase{"resnet18.toml", 11689512, "avgpool", Shape{1, 512, 1, 1}},
                      ImageNetCase{"resnet34.toml", 21797672, "avgpool", Shape{1, 512, 1, 1}},
                      ImageNetCase{"resnet50.toml", 25557032, "avgpool", Shape{1, 2048, 1, 1}},
                      ImageNetCase{"resnet20_fashion.toml", 272186, "avgpool", Shape{1, 64, 1, 1}}),
    [](const auto& info) { return std::string(info.param.file).substr(0, std::string(info.param.file).find('.')); });

// The shipped language-model configs parse and build (their data, the fortunes, is not needed):
// token input, one label per position, logits over the vocabulary.
TEST(LanguageModelConfigs, ParseAndBuild) {
  for (const char* file :
       {"char_lstm.toml", "char_gru.toml", "char_lstm_tbptt.toml", "word_lstm.toml", "rnnlm_dynet.toml"}) {
    SCOPED_TRACE(file);
    const RunConfig config = load_config(std::string(KILN_SOURCE_DIR) + "/models/" + file);
    BuiltNet built = cli::build_model(config, Device::cpu());
    const int64_t n = 2, t = config.input.at(0);
    built.net.setup({{"data", Shape{n, t}}, {"label", Shape{n * t}}});
    EXPECT_EQ(built.net.shape_of(built.logits), (Shape{n * t, config.classes}));
    EXPECT_GT(built.net.parameter_count(), 100000);
  }
}

// ---------------------------------------------------------------------------------------------
// A scaled-down AlexNet (LRN, groups = 2, dropout): its loss falls on the CPU, and in device builds
// cuda:0 trains it from the same seed with the same losses.


TEST(SmallAlexNet, LossFallsOnAnImageFolderOnTheCpu) {
  TempDir dir;
  make_image_folder(dir, 35, 16, 4);
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(small_alexnet_config(dir, 6, folder_data(dir), "type = \"adam\"\nlr = 0.003\n"), o);
  const auto rows = train_losses(dir.path("out/metrics.csv"));
  ASSERT_EQ(rows.size(), 24u);  // 32 images, batch 8, 6 epochs
  EXPECT_LT(mean_loss(rows, 20, 24), 0.5 * mean_loss(rows, 0, 4));
  ASSERT_TRUE(r.test_accuracy.has_value());
  EXPECT_GE(*r.test_accuracy, 0.99);
}

#if KILN_WITH_DEVICE
TEST(SmallAlexNet, CudaTrainsWithTheCpuLosses) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "needs a CUDA device: " << why;
  TempDir dir;
  const std::string config = small_alexnet_config(dir, 2, "source = \"synthetic\"\nsize = 16\nworkers = 0\n");
  expect_cuda_trains_with_cpu_losses(dir, config, 4);
}
#endif

}  // namespace
}  // namespace kiln::train_test
