// `kiln bench train CONFIG`: end-to-end throughput of a config's network on synthetic data.
//
//   kiln bench train models/lenet_fashion.toml --device cpu --batch 64 --iters 50 [--json]
//
// What it measures, in this order, each after --warmup untimed iterations:
//   1. training:  zero_grad + forward + backward + solver update (the config's [solver], constant
//                 lr), --iters steps, wall clock around the whole loop (the stream is synchronised
//                 once at the end) -> training images/s;
//   2. inference: forward only with set_training(false) (no state kept for backward, Dropout the
//                 identity), --iters passes -> forward images/s;
//   3. per layer: --iters more training steps with a Net layer observer that times every layer's
//                 forward and backward (and the solver update as its own row), like `caffe time`.
//                 On a GPU the observer synchronises the stream before and after each layer, so
//                 the rows are exact per-layer times but their sum is a little above the
//                 unobserved step of (1), which keeps the GPU's queue full; on the CPU the work
//                 is synchronous and the sum matches (1) within noise.
// Memory: the allocator's peak bytes on the device over the training and inference runs
// (allocator_for(device).stats().peak: activations, gradients, parameters, optimiser state and
// workspaces), and the Net's peak activation bytes in training and in inference.
//
// Data: one batch of uniform(-1, 1) inputs of the config's [model] input shape and labels
// i mod classes, made once on the device (no dataset files, no loader in the timed loop).
// Token models (the first layer an Embedding, so "data" is int32; tools/model_builder.h): ids
// uniform in [0, num_embeddings) of shape (N, T...) and N·T labels uniform in [0, classes), as the
// text source feeds them; throughput is then also reported in tokens/s = N·T per step / time
// (sequences/s is the images/s figure; JSON: train_tokens_per_s, forward_tokens_per_s).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <variant>
#include <vector>

#include "core/allocator.h"
#include "core/config/config.h"
#include "core/device.h"
#include "core/error.h"
#include "tools/train/solver.h"
#include "tools/train/trainer.h"
#include "tools/commands.h"
#include "tools/model_builder.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct BenchArgs {
  std::string config, device = "auto";
  int64_t batch = 0, iters = 20, warmup = 3;
  uint64_t seed = 1;
  bool json = false;
};

struct LayerTime {
  std::string name, type, shape;
  double forward = 0, backward = 0;  // seconds, summed over the observed iterations
};

int run_bench_train(const BenchArgs& a) {
  const RunConfig config = load_config(a.config);
  const Device device = select_device(a.device);
  const int64_t batch = a.batch > 0 ? a.batch : config.train.batch;
  KILN_CHECK(a.iters >= 1 && a.warmup >= 0, "--iters must be >= 1 and --warmup >= 0");
  KILN_CHECK(config.classes >= 1, "{}: [model] classes must be set for kiln bench train", config.path);

  BuiltNet built = build_model(config, device);
  Net& net = built.net;
  Shape x_shape{batch};
  for (int64_t d : config.input) x_shape.push_back(d);
  // Token model: int32 ids, one label per position.
  const bool tokens = !config.layers.empty() && config.layers.front().type == "Embedding";
  const int64_t per_sample = tokens ? x_shape.numel() / batch : 1;  // T (positions per sequence)
  const int64_t n_labels = batch * per_sample;
  net.setup({{"data", x_shape}, {"label", Shape{n_labels}}});
  net.init_parameters(a.seed);
  Solver solver(config.solver, net);
  const double lr = config.solver.lr;

  // Synthetic batch, made once.
  std::mt19937 rng(static_cast<uint32_t>(a.seed));
  std::vector<int32_t> ys(static_cast<size_t>(n_labels));
  Tensor x;
  if (tokens) {
    int64_t vocab = config.classes;
    const auto& params = config.layers.front().params;
    if (auto it = params.find("num_embeddings"); it != params.end() && std::holds_alternative<int64_t>(it->second))
      vocab = std::get<int64_t>(it->second);
    KILN_CHECK(vocab >= 1, "{}: the Embedding needs num_embeddings >= 1", config.path);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
    std::vector<int32_t> ids(static_cast<size_t>(x_shape.numel()));
    for (int32_t& v : ids) v = id(rng);
    x = Tensor::from_host(ids, x_shape, device);
    std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(config.classes - 1));
    for (int32_t& v : ys) v = label(rng);
  } else {
    std::vector<float> xs(static_cast<size_t>(x_shape.numel()));
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    for (float& v : xs) v = uni(rng);
    x = Tensor::from_host(xs, x_shape, device);
    for (int64_t i = 0; i < batch; ++i) ys[static_cast<size_t>(i)] = static_cast<int32_t>(i % config.classes);
  }
  const Tensor y = Tensor::from_host(ys, Shape{n_labels}, device);
  const std::map<std::string, const Tensor*> feeds{{"data", &x}, {"label", &y}};

  CachingAllocator& alloc = allocator_for(device);
  auto train_step = [&] {
    net.zero_grad();
    net.forward(feeds);
    net.backward();
    solver.step(lr);
  };

  // 1. Training.
  net.set_training(true);
  for (int64_t i = 0; i < a.warmup; ++i) train_step();
  net.stream().synchronize();
  alloc.reset_peak();
  net.reset_peak();
  auto t0 = Clock::now();
  for (int64_t i = 0; i < a.iters; ++i) train_step();
  net.stream().synchronize();
  const double train_s = since(t0);
  const float final_loss = net.output(built.loss).to_host()[0];
  const size_t train_act_peak = net.peak_activation_bytes();

  // 2. Inference.
  net.set_training(false);
  for (int64_t i = 0; i < a.warmup; ++i) net.forward(feeds);
  net.stream().synchronize();
  net.reset_peak();
  t0 = Clock::now();
  for (int64_t i = 0; i < a.iters; ++i) net.forward(feeds);
  net.stream().synchronize();
  const double fwd_s = since(t0);
  const size_t infer_act_peak = net.peak_activation_bytes();
  const uint64_t device_peak = alloc.stats().peak;

  // 3. Per-layer breakdown (training mode).
  net.set_training(true);
  std::vector<LayerTime> rows;
  std::map<const Layer*, size_t> row_of;
  for (Layer* l : net.layers()) {
    row_of[l] = rows.size();
    rows.push_back(LayerTime{l->name(), l->type(), net.shape_of(l->name()).str()});
  }
  const Stream& stream = net.stream();
  const bool sync = !device.is_cpu();
  Clock::time_point layer_t0;
  net.set_layer_observer([&](const Layer& l, Net::Pass pass, bool begin) {
    if (sync) stream.synchronize();
    if (begin) {
      layer_t0 = Clock::now();
      return;
    }
    LayerTime& r = rows[row_of.at(&l)];
    (pass == Net::Pass::forward ? r.forward : r.backward) += since(layer_t0);
  });
  double update_s = 0, zero_s = 0, observed_s = 0;
  for (int64_t i = 0; i < a.iters; ++i) {
    const auto s0 = Clock::now();
    auto t = Clock::now();
    net.zero_grad();
    if (sync) stream.synchronize();
    zero_s += since(t);
    net.forward(feeds);
    net.backward();
    if (sync) stream.synchronize();
    t = Clock::now();
    solver.step(lr);
    if (sync) stream.synchronize();
    update_s += since(t);
    observed_s += since(s0);
  }
  net.set_layer_observer({});

  const double n = static_cast<double>(a.iters);
  const double train_ips = static_cast<double>(batch) * n / train_s;
  const double fwd_ips = static_cast<double>(batch) * n / fwd_s;
  const double train_tps = train_ips * static_cast<double>(per_sample);
  const double fwd_tps = fwd_ips * static_cast<double>(per_sample);
  if (a.json) {
    nlohmann::json j;
    j["config"] = config.path;
    j["model"] = config.name;
    j["device"] = device.str();
    j["batch"] = batch;
    j["iters"] = a.iters;
    j["warmup"] = a.warmup;
    j["parameters"] = net.parameter_count();
    j["train_images_per_s"] = train_ips;
    j["train_ms_per_iter"] = 1e3 * train_s / n;
    j["forward_images_per_s"] = fwd_ips;
    j["forward_ms_per_iter"] = 1e3 * fwd_s / n;
    if (tokens) {
      j["sequence_length"] = per_sample;
      j["train_sequences_per_s"] = train_ips;
      j["train_tokens_per_s"] = train_tps;
      j["forward_sequences_per_s"] = fwd_ips;
      j["forward_tokens_per_s"] = fwd_tps;
    }
    j["final_loss"] = std::isfinite(final_loss) ? nlohmann::json(final_loss) : nlohmann::json(nullptr);
    j["peak_device_bytes"] = device_peak;
    j["peak_activation_bytes_train"] = train_act_peak;
    j["peak_activation_bytes_inference"] = infer_act_peak;
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerTime& r : rows)
      layers.push_back({{"name", r.name}, {"type", r.type}, {"output", r.shape}, {"forward_ms", 1e3 * r.forward / n},
                        {"backward_ms", 1e3 * r.backward / n}});
    j["layers"] = layers;
    j["update_ms"] = 1e3 * update_s / n;
    j["zero_grad_ms"] = 1e3 * zero_s / n;
    j["observed_step_ms"] = 1e3 * observed_s / n;
    fmt::print("{}\n", j.dump(1));
    return 0;
  }

  fmt::print("{} on {}: batch {}, {} parameters, {} timed iterations after {} warm-up\n", config.name, device.str(), batch,
             net.parameter_count(), a.iters, a.warmup);
  if (tokens) {
    fmt::print("  training  (forward+backward+update) {:9.1f} tokens/s  {:9.1f} sequences/s of {}  {:9.3f} ms/iter\n",
               train_tps, train_ips, per_sample, 1e3 * train_s / n);
    fmt::print("  inference (forward only)            {:9.1f} tokens/s  {:9.1f} sequences/s of {}  {:9.3f} ms/iter\n",
               fwd_tps, fwd_ips, per_sample, 1e3 * fwd_s / n);
  } else {
    fmt::print("  training  (forward+backward+update) {:9.1f} images/s  {:9.3f} ms/iter\n", train_ips, 1e3 * train_s / n);
    fmt::print("  inference (forward only)            {:9.1f} images/s  {:9.3f} ms/iter\n", fwd_ips, 1e3 * fwd_s / n);
  }
  fmt::print("  peak device memory {} ; peak activations {} (training), {} (inference); last loss {:.4f}\n",
             format_bytes(device_peak), format_bytes(train_act_peak), format_bytes(infer_act_peak), final_loss);
  fmt::print("\nper layer, ms per iteration (averaged over {} observed steps{}):\n", a.iters,
             sync ? ", stream synchronised around each layer" : "");
  fmt::print("  {:<14} {:<20} {:<20} {:>10} {:>10} {:>7}\n", "layer", "type", "output", "forward", "backward", "%");
  double fsum = 0, bsum = 0;
  for (const LayerTime& r : rows) {
    fsum += r.forward;
    bsum += r.backward;
  }
  const double total = std::max(observed_s, 1e-12);
  for (const LayerTime& r : rows)
    fmt::print("  {:<14} {:<20} {:<20} {:10.3f} {:10.3f} {:6.1f}%\n", r.name, r.type, r.shape, 1e3 * r.forward / n,
               1e3 * r.backward / n, 100 * (r.forward + r.backward) / total);
  fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(zero_grad)", "", "", "", 1e3 * zero_s / n,
             100 * zero_s / total);
  fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(update)", config.solver.type, "", "",
             1e3 * update_s / n, 100 * update_s / total);
  fmt::print("  {:<14} {:<20} {:<20} {:10.3f} {:10.3f}\n", "total", "", "", 1e3 * fsum / n, 1e3 * bsum / n);
  fmt::print("  observed step {:.3f} ms (unobserved {:.3f} ms)\n", 1e3 * observed_s / n, 1e3 * train_s / n);
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Action* action) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (kernel tables: kiln_kernel_bench)");
  bench->require_subcommand(1);
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = bench->add_subcommand("train", "Training and inference images/s (tokens/s for token models) of "
                                                  "a config's net on synthetic data, per-layer times, peak memory");
  cmd->add_option("config", args->config, "Model config (TOML); its [data] section is not used")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--batch", args->batch, "Batch size (default: the config's [train] batch)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--iters", args->iters, "Timed iterations per measurement")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Untimed iterations before each measurement")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed, "Seed of the weights and the synthetic batch")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of the table");
  cmd->callback([action, args] { *action = [args] { return run_bench_train(*args); }; });
}

}  // namespace kiln::cli
