// Mixed-precision training (layers/net.h "Precision", tools/train/loss_scaler.h): 16-bit
// activations, FP16 dynamic loss scaling (skip on overflow, halve, grow), its checkpointing, and
// the emulated GPU training with the CPU's losses in BF16 and FP16.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/safetensors.h"
#include "kernels/shapes/loss_scale.h"
#include "layers/net.h"
#include "layers/registry.h"
#include "tests/train/helpers.h"
#include "tools/train/loss_scaler.h"
#include "tools/train/solver.h"

namespace kiln::train_test {
namespace {

using layers::make_layer;


// conv 3x3 (8) -> ReLU -> flatten -> fc 4 -> softmax cross-entropy, on (N, 2, 6, 6) inputs.
Net small_net(MathPrecision precision) {
  Net net(Device::cpu());
  net.add_input("data");
  net.add_input("label", DType::I32);
  auto layer = [&](const char* type, const char* name, std::map<std::string, Value> params = {},
                   std::vector<std::string> inputs = {}) {
    net.add(make_layer(LayerSpec{.type = type, .name = name, .inputs = {}, .params = std::move(params)}),
            std::move(inputs));
  };
  layer("Conv2d", "conv1", {{"out_channels", int64_t{8}}, {"kernel", int64_t{3}}, {"pad", int64_t{1}}});
  layer("ReLU", "relu1");
  layer("Flatten", "flatten");
  layer("Linear", "fc", {{"out_features", int64_t{4}}});
  layer("SoftmaxCrossEntropy", "loss", {}, {"fc", "label"});
  net.set_precision(precision);
  net.setup({{"data", Shape{16, 2, 6, 6}}, {"label", Shape{16}}});
  net.init_parameters(3);
  return net;
}

struct Batch {
  Tensor x, y;
  std::map<std::string, const Tensor*> feeds() const { return {{"data", &x}, {"label", &y}}; }
};

Batch batch(float amplitude = 1.0f) {
  std::vector<float> xs(16 * 2 * 6 * 6);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = amplitude * std::sin(0.37f * static_cast<float>(i));
  std::vector<int32_t> ys(16);
  for (size_t i = 0; i < ys.size(); ++i) ys[i] = static_cast<int32_t>(i % 4);
  return {Tensor::from_host(xs, Shape{16, 2, 6, 6}), Tensor::from_host(ys, Shape{16})};
}

std::vector<float> flat_parameters(Net& net) {
  std::vector<float> out;
  for (const Net::ParamRef& p : net.parameters()) {
    const std::vector<float> v = p.param->value.to_host();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(MixedPrecision, Bf16KeepsActivationsForBackwardIn16BitsAndOutputsRoundedFp32) {
  const Batch b = batch();
  Net fp32 = small_net(MathPrecision::F32), bf16 = small_net(MathPrecision::BF16);
  for (Net* n : {&fp32, &bf16}) {
    n->keep("fc");  // the logits, as the trainer keeps them for accuracy
    n->forward(b.feeds());
  }
  // relu1 waits for its backward (ReLU reads its output): BF16 storage, half of FP32's.
  EXPECT_EQ(bf16.output("relu1").dtype(), DType::BF16);
  EXPECT_EQ(fp32.output("relu1").dtype(), DType::F32);
  EXPECT_LT(bf16.live_activation_bytes(), fp32.live_activation_bytes() * 6 / 10);
  // What the caller reads (keep(), outputs) stays an FP32 tensor, holding values a BF16 tensor holds.
  const Tensor& logits = bf16.output("fc");
  ASSERT_EQ(logits.dtype(), DType::F32);
  for (float v : logits.to_host()) EXPECT_EQ(v, bf16_to_float(float_to_bf16_rne(v)));
  // Backward reads the 16-bit activations through exact FP32 copies; the gradients are finite and
  // close to FP32's (BF16 has 8 significant bits).
  fp32.backward();
  bf16.backward();
  const std::vector<float> g32 = fp32.parameters()[0].param->grad.to_host();
  const std::vector<float> g16 = bf16.parameters()[0].param->grad.to_host();
  double err = 0, ref = 0;
  for (size_t i = 0; i < g32.size(); ++i) {
    ASSERT_TRUE(std::isfinite(g16[i]));
    err += (g16[i] - g32[i]) * double(g16[i] - g32[i]);
    ref += g32[i] * double(g32[i]);
  }
  EXPECT_LT(std::sqrt(err / ref), 0.05) << "relative error of conv1's weight gradient";
  EXPECT_GT(std::sqrt(err / ref), 0.0) << "BF16 rounding changed nothing: is the precision applied?";
}

// One scaled step: forward, backward with the scale, the scaler's step, the update.
void scaled_step(Net& net, Solver& solver, LossScaler& scaler, const Batch& b) {
  net.zero_grad();
  net.forward(b.feeds());
  net.backward(&scaler.scale());
  scaler.queue();
  solver.step(0.05, 1.0f, &scaler.grad_scale());
}

TEST(MixedPrecision, Fp16OverflowSkipsTheStepHalvesTheScaleAndGoodStepsGrowIt) {
  const Batch b = batch();
  Net net = small_net(MathPrecision::F16);
  SolverConfig sgd;
  sgd.momentum = 0.9;
  Solver solver(sgd, net);
  // 2^24 times a loss gradient of about 1/16 overflows FP16 (max 65504) at once.
  LossScaler scaler(net, {.initial_scale = 16777216.0, .growth_interval = 3});
  const std::vector<float> before = flat_parameters(net);
  scaled_step(net, solver, scaler, b);
  LossScaler::State st = scaler.read();
  EXPECT_EQ(st.scale, 8388608.0);
  EXPECT_EQ(st.skipped_steps, 1);
  EXPECT_TRUE(std::isnan(scaler.grad_scale().to_host()[0]));
  EXPECT_EQ(flat_parameters(net), before) << "a skipped step must not move any parameter";
  // The scale backs off until the gradients fit, then the steps update the parameters.
  int steps = 1;
  while (scaler.read().skipped_steps == steps && steps < 40) {
    scaled_step(net, solver, scaler, b);
    ++steps;
  }
  st = scaler.read();
  ASSERT_LT(steps, 40) << "the scale never came down to a size the gradients fit in";
  EXPECT_EQ(st.good_steps, 1);
  EXPECT_NE(flat_parameters(net), before);
  const double settled = st.scale;
  EXPECT_EQ(settled, 16777216.0 / std::exp2(steps - 1));
  // Three good steps in a row (growth_interval) double it.
  scaled_step(net, solver, scaler, b);
  scaled_step(net, solver, scaler, b);
  st = scaler.read();
  ASSERT_EQ(st.skipped_steps, steps - 1) << "the settled scale overflowed again";
  EXPECT_EQ(st.scale, 2 * settled);
  EXPECT_EQ(st.good_steps, 0);
  // The optimisers got 1/S: the true norm is reported unscaled, independent of S.
  const float norm = scaler.grad_scale().to_host()[1];
  EXPECT_TRUE(std::isfinite(norm));
  EXPECT_GT(norm, 0.0f);
}

// The FP16 scaler keeps what would flush to zero: at a small loss gradient, the unscaled FP16 flow
// loses parameter-gradient mass that the scaled flow keeps.
TEST(MixedPrecision, Fp16LossScalingKeepsGradientsThatWouldUnderflow) {
  const Batch b = batch(1e-3f);  // tiny inputs: tiny activations and weight gradients
  Net ref = small_net(MathPrecision::F32), unscaled = small_net(MathPrecision::F16), scaled = small_net(MathPrecision::F16);
  LossScaler scaler(scaled, {.initial_scale = 1024.0});
  for (Net* n : {&ref, &unscaled, &scaled}) {
    n->forward(b.feeds());
  }
  ref.backward();
  unscaled.backward();
  scaled.backward(&scaler.scale());
  const std::vector<float> g = ref.parameters()[0].param->grad.to_host();
  const std::vector<float> u = unscaled.parameters()[0].param->grad.to_host();
  const std::vector<float> s = scaled.parameters()[0].param->grad.to_host();
  double eu = 0, es = 0, r = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    eu += std::pow(u[i] - g[i], 2.0);
    es += std::pow(s[i] / 1024.0 - g[i], 2.0);
    r += std::pow(double(g[i]), 2.0);
  }
  EXPECT_LT(es, eu) << "scaling by 1024 must bring conv1's weight gradient closer to FP32's";
  EXPECT_LT(std::sqrt(es / r), 0.02);
}

TEST(MixedPrecision, Fp16ResumeEqualsTheUninterruptedRunBitForBit) {
  TempDir dir;
  const std::string config =
      resume_config(dir, "precision = \"fp16\"\nloss_scale = 16777216\nloss_scale_growth_interval = 4\n");
  TrainOptions full;
  full.out_dir = dir.path("full");
  EXPECT_EQ(run_training(config, full).steps, 15);
  const SafetensorsFile ckpt = read_safetensors(dir.path("full/checkpoint.safetensors"));
  ASSERT_TRUE(ckpt.tensors.count("train.loss_scaler"));
  const std::vector<float>& state = ckpt.tensors.at("train.loss_scaler").values;
  EXPECT_GT(state[kSkippedSteps], 0.0f) << "2^24 should have overflowed at first";
  EXPECT_LT(state[kLossScale], 16777216.0f);
  EXPECT_EQ(ckpt.metadata.at("precision"), "f16");

  TrainOptions first;
  first.out_dir = dir.path("part");
  first.steps = 7;
  const std::string saved = dir.path("part/stopped.safetensors");
  std::filesystem::copy_file(run_training(config, first).checkpoint, saved);
  TrainOptions second;
  second.out_dir = dir.path("part");
  second.resume = saved;
  EXPECT_EQ(run_training(config, second).steps, 15);
  expect_same_checkpoints(dir.path("full/checkpoint.safetensors"), dir.path("part/checkpoint.safetensors"));
}

TEST(MixedPrecision, BadPrecisionIsOneClearError) {
  TempDir dir;
  const std::string config = resume_config(dir, "precision = \"fp8\"\n");
  const std::string e = error_of([&] { run_training(config, TrainOptions{}); });
  EXPECT_TRUE(contains(e, "precision must be one of fp32, tf32, bf16, fp16")) << e;
  EXPECT_TRUE(contains(e, "resume.toml:")) << e;
  TrainOptions o;
  o.precision = "half";
  const std::string e2 = error_of([&] { run_training(resume_config(dir), o); });
  EXPECT_TRUE(contains(e2, "--precision must be fp32, tf32, bf16 or fp16, got 'half'")) << e2;
}

#if KILN_WITH_DEVICE
// The emulated GPU trains with the CPU's losses in every precision: the same rounding rules
// (tensor cores vs rounded operands + SGEMM), FP32 sums in another order. The tolerance is a few
// units of the 16-bit format's last place (an FP32 difference can flip one rounding).
TEST(MixedPrecision, CudaTrainsWithTheCpuLossesInEveryPrecision) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "needs a CUDA device: " << why;
  const std::map<std::string, double> ulp = {{"tf32", 0x1p-10}, {"bf16", 0x1p-7}, {"fp16", 0x1p-10}};
  for (const auto& [precision, unit] : ulp) {
    SCOPED_TRACE(precision);
    TempDir dir;
    const std::string config = small_alexnet_config(dir, 1, "source = \"synthetic\"\nsize = 24\nworkers = 0\n",
                                                    "type = \"sgd\"\nlr = 0.02\nmomentum = 0.9\n",
                                                    "precision = \"" + precision + "\"\n");
    const auto [cpu, gpu] = cpu_and_cuda_losses(dir, config);
    ASSERT_EQ(cpu.size(), 3u);
    ASSERT_EQ(gpu.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      const double a = std::stod(cpu[i].second), b = std::stod(gpu[i].second);
      EXPECT_NEAR(b, a, 4 * unit * std::abs(a)) << "step " << cpu[i].first;
    }
  }
}
#endif

}  // namespace
}  // namespace kiln::train_test
