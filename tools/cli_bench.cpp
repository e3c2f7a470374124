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
//
// Data parallel (issue 14), under mpirun:
//
//   mpirun -np 2 kiln bench train models/lenet_fashion.toml --device cpu --batch 64 [--bucket-mb 25]
//
// --batch is the global batch, split evenly over the ranks (one that does not divide is refused);
// each rank trains on its own synthetic shard (seed + rank; Net::set_batch_shard keys dropout by
// global sample index), and after each backward GradientBuckets::finish() averages the gradients
// as `kiln train` does (buckets of --bucket-mb, default the config's [train] bucket_mb, started
// during backward; tools/dist/gradient_buckets.h). Rank 0 alone prints. images/s are global
// (global batch × steps / rank 0's time). Also reported per step: the all-reduce time backward did
// not hide (GradientBuckets::seconds_waited() over the timed steps of (1), which includes waiting
// for a slower rank), and, after the three measurements, one blocking all-reduce of a buffer of
// every gradient (Communicator::allreduce_sum, mean and fastest of 5 after a barrier each): the
// most the overlap could hide. The per-layer table is rank 0's, with rows for finish() and for the
// time between layers (the bucket hooks). JSON: ranks (1 in a single process), batch (global),
// batch_per_rank, gradient_bytes, allreduce_exposed_ms_per_step, allreduce_full_ms,
// allreduce_full_min_ms, allreduce_observed_ms, buckets, transport.
//
// Scaling, measured (tools/bench_ranks.h):
//
//   kiln bench train models/lenet_fashion.toml --device cpu --ranks 1,2 --batch 64
//
// runs `mpirun -np R <this kiln> bench train CONFIG <the same options> --json` for each R of the
// list (the mpirun CMake found, else the one on PATH), CPU threads per rank = cores / R unless
// OMP_NUM_THREADS is set, and prints one row per R: global batch, images/s, speedup over the first
// row, exposed and full all-reduce ms, under a line naming the CPU model and its cores.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <variant>
#include <vector>

#include "core/allocator.h"
#include "core/config/config.h"
#include "core/device.h"
#include "core/error.h"
#include "tools/train/loss_scaler.h"
#include "tools/train/solver.h"
#include "tools/train/trainer.h"
#include "tools/bench_ranks.h"
#include "tools/commands.h"
#include "tools/dist/bucket_transports.h"
#include "tools/dist/communicator.h"
#include "tools/dist/gradient_buckets.h"
#include "tools/dist/launch.h"
#include "tools/model_builder.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct BenchArgs {
  std::string config, device = "auto", precision;  // precision empty: the config's [train] precision
  int64_t batch = 0, iters = 20, warmup = 3;
  uint64_t seed = 1;
  bool json = false;
  std::optional<double> bucket_mb;  // default: the config's [train] bucket_mb
  std::string ranks;                 // "1,2": run under mpirun once per count (tools/bench_ranks.h)
};

// One training step at a constant learning rate: what (1) times. With FP16 the loss scaler runs as
// in `kiln train` (scaled backward, the scaler's device step, the update reading its factor).
// Under mpirun the gradients are averaged over the ranks between backward and the update, as
// `kiln train` does (buckets started during backward, finish() after it).
void train_step(Net& net, Solver& solver, double lr, const std::map<std::string, const Tensor*>& feeds,
                LossScaler* scaler, dist::GradientBuckets* buckets) {
  net.zero_grad();
  net.forward(feeds);
  net.backward(scaler ? &scaler->scale() : nullptr);
  if (buckets) buckets->finish();
  if (scaler) scaler->queue();
  solver.step(lr, 1.0f, scaler ? &scaler->grad_scale() : nullptr);
}

struct LayerTime {
  std::string name, type, shape;
  double forward = 0, backward = 0;  // seconds, summed over the observed iterations
};

// One batch of synthetic inputs and labels on the device, made once (see the header comment).
struct SyntheticBatch {
  Tensor x, y;
  int64_t per_sample = 1;  // labels (positions) per sample: T for a token model, else 1
  bool tokens = false;
  std::map<std::string, const Tensor*> feeds() const { return {{"data", &x}, {"label", &y}}; }
};

SyntheticBatch make_synthetic_batch(const RunConfig& config, int64_t batch, uint64_t seed, Device device) {
  SyntheticBatch s;
  Shape x_shape{batch};
  for (int64_t d : config.input) x_shape.push_back(d);
  // Token model: int32 ids, one label per position.
  s.tokens = !config.layers.empty() && config.layers.front().type == "Embedding";
  s.per_sample = s.tokens ? x_shape.numel() / batch : 1;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<int32_t> ys(static_cast<size_t>(batch * s.per_sample));
  if (s.tokens) {
    int64_t vocab = config.classes;
    const auto& params = config.layers.front().params;
    if (auto it = params.find("num_embeddings"); it != params.end() && std::holds_alternative<int64_t>(it->second))
      vocab = std::get<int64_t>(it->second);
    KILN_CHECK(vocab >= 1, "{}: the Embedding needs num_embeddings >= 1", config.path);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
    std::vector<int32_t> ids(static_cast<size_t>(x_shape.numel()));
    for (int32_t& v : ids) v = id(rng);
    s.x = Tensor::from_host(ids, x_shape, device);
    std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(config.classes - 1));
    for (int32_t& v : ys) v = label(rng);
  } else {
    std::vector<float> xs(static_cast<size_t>(x_shape.numel()));
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    for (float& v : xs) v = uni(rng);
    s.x = Tensor::from_host(xs, x_shape, device);
    for (int64_t i = 0; i < batch; ++i) ys[static_cast<size_t>(i)] = static_cast<int32_t>(i % config.classes);
  }
  s.y = Tensor::from_host(ys, Shape{static_cast<int64_t>(ys.size())}, device);
  return s;
}

// What the three measurements found (times in seconds, summed over --iters).
struct BenchResult {
  double train_s = 0, forward_s = 0;
  float final_loss = 0;
  size_t train_activation_peak = 0, inference_activation_peak = 0;
  size_t train_activation_held = 0;  // what training holds for backward when forward ends
  std::string precision;             // as the config names it: fp32, tf32, bf16, fp16
  uint64_t device_peak = 0;
  std::vector<LayerTime> layers;
  double update_s = 0, zero_s = 0, observed_s = 0;
  double allreduce_observed_s = 0;   // (3) GradientBuckets::finish, summed
  bool synchronised_layers = false;  // the stream was synchronised around each layer (a GPU)
  // Data-parallel runs (more than one rank):
  double allreduce_exposed_s = 0;  // GradientBuckets::seconds_waited() over the timed steps of (1)
  double allreduce_full_s = 0;     // one blocking all-reduce of every gradient, averaged
  double allreduce_full_min_s = 0;  // and the fastest of those repetitions
  int64_t buckets = 0;
  std::string transport;
};

// The data-parallel side of a run under mpirun: the communicator, this rank's share of the batch,
// and the gradient buckets (none in a single process).
struct Ranks {
  explicit Ranks(dist::Communicator& c) : comm(c) {}
  dist::Communicator& comm;
  int64_t global_batch = 0, local_batch = 0;
  std::optional<dist::GradientBuckets> buckets;
  dist::GradientBuckets* buckets_ptr() { return buckets ? &*buckets : nullptr; }
  bool parallel() const { return comm.size() > 1; }
};

// 1. training and 2. inference throughput, with the peak memory of each.
void measure_throughput(const BenchArgs& a, BuiltNet& built, Solver& solver, LossScaler* scaler, double lr,
                        const SyntheticBatch& batch, Ranks& ranks, BenchResult& r) {
  dist::GradientBuckets* buckets = ranks.buckets_ptr();
  Net& net = built.net;
  const auto feeds = batch.feeds();
  CachingAllocator& alloc = allocator_for(net.device());
  net.set_training(true);
  for (int64_t i = 0; i < a.warmup; ++i) train_step(net, solver, lr, feeds, scaler, buckets);
  net.zero_grad();
  net.forward(feeds);
  r.train_activation_held = net.live_activation_bytes();
  net.backward(scaler ? &scaler->scale() : nullptr);
  if (buckets) buckets->finish();  // the buckets started during that backward must end
  net.stream().synchronize();
  alloc.reset_peak();
  net.reset_peak();
  // The ranks start the timed loop together (else the first all-reduce times the others' lag).
  if (ranks.parallel()) ranks.comm.barrier();
  const double waited0 = buckets ? buckets->seconds_waited() : 0.0;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < a.iters; ++i) train_step(net, solver, lr, feeds, scaler, buckets);
  net.stream().synchronize();
  r.train_s = since(t0);
  if (buckets) r.allreduce_exposed_s = buckets->seconds_waited() - waited0;
  r.final_loss = net.output(built.loss).to_host()[0];
  r.train_activation_peak = net.peak_activation_bytes();

  net.set_training(false);
  for (int64_t i = 0; i < a.warmup; ++i) net.forward(feeds);
  net.stream().synchronize();
  net.reset_peak();
  t0 = Clock::now();
  for (int64_t i = 0; i < a.iters; ++i) net.forward(feeds);
  net.stream().synchronize();
  r.forward_s = since(t0);
  r.inference_activation_peak = net.peak_activation_bytes();
  r.device_peak = alloc.stats().peak;
}

// 3. Per-layer times in training mode, through the Net's layer observer.
void measure_layers(const BenchArgs& a, Net& net, Solver& solver, LossScaler* scaler, double lr,
                    const SyntheticBatch& batch, Ranks& ranks, BenchResult& r) {
  dist::GradientBuckets* buckets = ranks.buckets_ptr();
  const auto feeds = batch.feeds();
  net.set_training(true);
  std::map<const Layer*, size_t> row_of;
  for (Layer* l : net.layers()) {
    row_of[l] = r.layers.size();
    r.layers.push_back(LayerTime{l->name(), l->type(), net.shape_of(l->name()).str()});
  }
  const Stream& stream = net.stream();
  const bool sync = !net.device().is_cpu();
  r.synchronised_layers = sync;
  Clock::time_point layer_t0;
  net.set_layer_observer([&](const Layer& l, Net::Pass pass, bool begin) {
    if (sync) stream.synchronize();
    if (begin) {
      layer_t0 = Clock::now();
      return;
    }
    LayerTime& row = r.layers[row_of.at(&l)];
    (pass == Net::Pass::Forward ? row.forward : row.backward) += since(layer_t0);
  });
  for (int64_t i = 0; i < a.iters; ++i) {
    const auto s0 = Clock::now();
    auto t = Clock::now();
    net.zero_grad();
    if (sync) stream.synchronize();
    r.zero_s += since(t);
    net.forward(feeds);
    net.backward(scaler ? &scaler->scale() : nullptr);
    if (buckets) {
      t = Clock::now();
      buckets->finish();
      if (sync) stream.synchronize();
      r.allreduce_observed_s += since(t);
    }
    if (scaler) scaler->queue();
    if (sync) stream.synchronize();
    t = Clock::now();
    solver.step(lr, 1.0f, scaler ? &scaler->grad_scale() : nullptr);
    if (sync) stream.synchronize();
    r.update_s += since(t);
    r.observed_s += since(s0);
  }
  net.set_layer_observer({});
}

// 4. (several ranks) One blocking all-reduce of a buffer as large as every gradient together, from
// the host, averaged over a few repetitions after one untimed: the most that overlapping the
// buckets with backward could hide per step (the buckets move the same bytes, in pieces). The
// fastest repetition is kept too: on a shared machine a rank that loses its core for a scheduler
// time slice makes single repetitions several milliseconds slower.
void measure_full_allreduce(dist::Communicator& comm, int64_t elements, BenchResult& r) {
  constexpr int kRepeats = 5;
  std::vector<float> buffer(static_cast<size_t>(elements), 1.0f);
  comm.allreduce_sum(buffer.data(), elements);
  double total = 0, fastest = 1e30;
  for (int i = 0; i < kRepeats; ++i) {
    comm.barrier();  // every rank enters together: the time is the transfer, not the others' lag
    const auto t0 = Clock::now();
    comm.allreduce_sum(buffer.data(), elements);
    const double t = since(t0);
    total += t;
    fastest = std::min(fastest, t);
  }
  r.allreduce_full_s = total / kRepeats;
  r.allreduce_full_min_s = fastest;
}

void print_json(const RunConfig& config, const BenchArgs& a, const Net& net, int64_t batch, const SyntheticBatch& s,
                const Ranks& ranks, const BenchResult& r) {
  const double n = static_cast<double>(a.iters);
  const double train_ips = static_cast<double>(batch) * n / r.train_s;
  const double fwd_ips = static_cast<double>(batch) * n / r.forward_s;
  nlohmann::json j;
  j["config"] = config.path;
  j["model"] = config.name;
  j["device"] = net.device().str();
  j["batch"] = batch;
  j["ranks"] = ranks.comm.size();
  j["iters"] = a.iters;
  j["warmup"] = a.warmup;
  j["parameters"] = net.parameter_count();
  j["gradient_bytes"] = net.parameter_count() * static_cast<int64_t>(sizeof(float));
  if (ranks.parallel()) {
    j["batch_per_rank"] = ranks.local_batch;
    j["allreduce_exposed_ms_per_step"] = 1e3 * r.allreduce_exposed_s / n;
    j["allreduce_full_ms"] = 1e3 * r.allreduce_full_s;
    j["allreduce_full_min_ms"] = 1e3 * r.allreduce_full_min_s;
    j["allreduce_observed_ms"] = 1e3 * r.allreduce_observed_s / n;
    j["buckets"] = r.buckets;
    j["transport"] = r.transport;
  }
  j["train_images_per_s"] = train_ips;
  j["train_ms_per_iter"] = 1e3 * r.train_s / n;
  j["forward_images_per_s"] = fwd_ips;
  j["forward_ms_per_iter"] = 1e3 * r.forward_s / n;
  if (s.tokens) {
    j["sequence_length"] = s.per_sample;
    j["train_sequences_per_s"] = train_ips;
    j["train_tokens_per_s"] = train_ips * static_cast<double>(s.per_sample);
    j["forward_sequences_per_s"] = fwd_ips;
    j["forward_tokens_per_s"] = fwd_ips * static_cast<double>(s.per_sample);
  }
  j["final_loss"] = std::isfinite(r.final_loss) ? nlohmann::json(r.final_loss) : nlohmann::json(nullptr);
  j["peak_device_bytes"] = r.device_peak;
  j["peak_activation_bytes_train"] = r.train_activation_peak;
  j["peak_activation_bytes_inference"] = r.inference_activation_peak;
  j["activation_bytes_held_after_forward"] = r.train_activation_held;
  j["precision"] = r.precision;
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerTime& l : r.layers)
    layers.push_back({{"name", l.name}, {"type", l.type}, {"output", l.shape}, {"forward_ms", 1e3 * l.forward / n},
                      {"backward_ms", 1e3 * l.backward / n}});
  j["layers"] = layers;
  j["update_ms"] = 1e3 * r.update_s / n;
  j["zero_grad_ms"] = 1e3 * r.zero_s / n;
  j["observed_step_ms"] = 1e3 * r.observed_s / n;
  fmt::print("{}\n", j.dump(1));
}

void print_table(const RunConfig& config, const BenchArgs& a, const Net& net, int64_t batch, const SyntheticBatch& s,
                 const Ranks& ranks, const BenchResult& r) {
  const double n = static_cast<double>(a.iters);
  const double train_ips = static_cast<double>(batch) * n / r.train_s;
  const double fwd_ips = static_cast<double>(batch) * n / r.forward_s;
  fmt::print("{} on {}, precision {}: {}, {} parameters, {} timed iterations after {} warm-up\n", config.name,
             net.device().str(), r.precision,
             ranks.parallel() ? fmt::format("global batch {} = {} ranks × {}", batch, ranks.comm.size(), ranks.local_batch)
                              : fmt::format("batch {}", batch),
             net.parameter_count(), a.iters, a.warmup);
  if (s.tokens) {
    const auto t = static_cast<double>(s.per_sample);
    fmt::print("  training  (forward+backward+update) {:9.1f} tokens/s  {:9.1f} sequences/s of {}  {:9.3f} ms/iter\n",
               train_ips * t, train_ips, s.per_sample, 1e3 * r.train_s / n);
    fmt::print("  inference (forward only)            {:9.1f} tokens/s  {:9.1f} sequences/s of {}  {:9.3f} ms/iter\n",
               fwd_ips * t, fwd_ips, s.per_sample, 1e3 * r.forward_s / n);
  } else {
    fmt::print("  training  (forward+backward+update) {:9.1f} images/s  {:9.3f} ms/iter\n", train_ips,
               1e3 * r.train_s / n);
    fmt::print("  inference (forward only)            {:9.1f} images/s  {:9.3f} ms/iter\n", fwd_ips,
               1e3 * r.forward_s / n);
  }
  fmt::print("  peak device memory {} ; peak activations {} (training), {} (inference); last loss {:.4f}\n",
             format_bytes(r.device_peak), format_bytes(r.train_activation_peak),
             format_bytes(r.inference_activation_peak), r.final_loss);
  fmt::print("  activations held for backward when forward ends: {} ({})\n", format_bytes(r.train_activation_held),
             net.precision() == MathPrecision::BF16 || net.precision() == MathPrecision::F16
                 ? "16-bit storage"
                 : "FP32 storage");
  if (ranks.parallel()) {
    fmt::print("  gradient all-reduce ({} bucket(s), {}, {} per step): {:.3f} ms per step not hidden behind "
               "backward; one blocking all-reduce of every gradient {:.3f} ms (fastest {:.3f})\n",
               r.buckets, r.transport, format_bytes(static_cast<uint64_t>(net.parameter_count()) * sizeof(float)),
               1e3 * r.allreduce_exposed_s / n, 1e3 * r.allreduce_full_s, 1e3 * r.allreduce_full_min_s);
  }
  fmt::print("\nper layer, ms per iteration (averaged over {} observed steps{}{}):\n", a.iters,
             r.synchronised_layers ? ", stream synchronised around each layer" : "",
             ranks.parallel() ? fmt::format(", rank 0 of {} on its {} samples", ranks.comm.size(), ranks.local_batch)
                              : "");
  fmt::print("  {:<14} {:<20} {:<20} {:>10} {:>10} {:>7}\n", "layer", "type", "output", "forward", "backward", "%");
  double fsum = 0, bsum = 0;
  for (const LayerTime& l : r.layers) {
    fsum += l.forward;
    bsum += l.backward;
  }
  const double total = std::max(r.observed_s, 1e-12);
  for (const LayerTime& l : r.layers)
    fmt::print("  {:<14} {:<20} {:<20} {:10.3f} {:10.3f} {:6.1f}%\n", l.name, l.type, l.shape, 1e3 * l.forward / n,
               1e3 * l.backward / n, 100 * (l.forward + l.backward) / total);
  fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(zero_grad)", "", "", "", 1e3 * r.zero_s / n,
             100 * r.zero_s / total);
  if (ranks.parallel()) {
    fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(all-reduce)", "buckets finish()", "", "",
               1e3 * r.allreduce_observed_s / n, 100 * r.allreduce_observed_s / total);
    // What no row holds: mostly the bucket hook between layers (packing a bucket, starting its
    // all-reduce, MPI progress), which on the CPU runs on the same cores as backward.
    const double between = r.observed_s - fsum - bsum - r.zero_s - r.update_s - r.allreduce_observed_s;
    fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(between)", "bucket hooks etc.", "", "",
               1e3 * between / n, 100 * between / total);
  }
  fmt::print("  {:<14} {:<20} {:<20} {:10} {:10.3f} {:6.1f}%\n", "(update)", config.solver.type, "", "",
             1e3 * r.update_s / n, 100 * r.update_s / total);
  fmt::print("  {:<14} {:<20} {:<20} {:10.3f} {:10.3f}\n", "total", "", "", 1e3 * fsum / n, 1e3 * bsum / n);
  fmt::print("  observed step {:.3f} ms (unobserved {:.3f} ms)\n", 1e3 * r.observed_s / n, 1e3 * r.train_s / n);
}

// --ranks: this command runs itself under mpirun once per rank count (tools/bench_ranks.h).
int run_bench_ranks_driver(const BenchArgs& a, const RunConfig& config) {
  KILN_CHECK(dist::world().size() == 1,
             "kiln bench train --ranks starts mpirun itself: run it alone, not under mpirun (or drop --ranks)");
  RanksRequest request;
  request.config = a.config;
  request.ranks = parse_rank_list(a.ranks);
  request.global_batch = a.batch > 0 ? a.batch : config.train.batch;
  request.json = a.json;
  auto& args = request.args;
  args = {"--device", a.device, "--batch", std::to_string(request.global_batch), "--iters", std::to_string(a.iters),
          "--warmup", std::to_string(a.warmup), "--seed", std::to_string(a.seed)};
  if (!a.precision.empty()) args.insert(args.end(), {"--precision", a.precision});
  if (a.bucket_mb) args.insert(args.end(), {"--bucket-mb", fmt::format("{}", *a.bucket_mb)});
  return run_bench_ranks(request);
}

int run_bench_train(const BenchArgs& a) {
  const RunConfig config = load_config(a.config);
  KILN_CHECK(a.iters >= 1 && a.warmup >= 0, "--iters must be >= 1 and --warmup >= 0");
  KILN_CHECK(TableReader(config.data).string("task", "classification") != "regression",
             "{}: kiln bench train times classification models on synthetic labels; regression configs ([data] "
             "task = \"regression\") are not supported yet", config.path);
  KILN_CHECK(config.classes >= 1, "{}: [model] classes must be set for kiln bench train", config.path);
  KILN_CHECK(!a.bucket_mb || *a.bucket_mb > 0, "--bucket-mb must be > 0, got {}", a.bucket_mb.value_or(0));
  if (!a.ranks.empty()) return run_bench_ranks_driver(a, config);

  // Under mpirun: the global batch split evenly over the ranks, each on its own shard.
  Ranks ranks(dist::world());
  const int size = ranks.comm.size();
  ranks.global_batch = a.batch > 0 ? a.batch : config.train.batch;
  KILN_CHECK(ranks.global_batch % size == 0,
             "kiln bench train: the batch {} is the global batch, split evenly over the {} ranks, and does not divide "
             "by {}: give a --batch that does (e.g. {})",
             ranks.global_batch, size, size, (ranks.global_batch / size + 1) * size);
  ranks.local_batch = ranks.global_batch / size;
  const Device device = dist::rank_device(a.device, ranks.comm);

  BuiltNet built = build_model(config, device);
  // Each rank its own synthetic samples (seed + rank); the weights from the same seed everywhere.
  const SyntheticBatch synthetic =
      make_synthetic_batch(config, ranks.local_batch, a.seed + static_cast<uint64_t>(ranks.comm.rank()), device);
  built.net.setup({{"data", synthetic.x.shape()}, {"label", synthetic.y.shape()}});
  built.net.init_parameters(a.seed);
  if (ranks.parallel()) built.net.set_batch_shard(ranks.comm.rank() * ranks.local_batch, ranks.global_batch);
  const std::string precision = a.precision.empty() ? config.train.precision : a.precision;
  built.net.set_precision(*precision_from_name(precision));
  Solver solver(config.solver, built.net);
  std::optional<LossScaler> scaler;
  if (built.net.precision() == MathPrecision::F16) {
    scaler.emplace(built.net, LossScaleSettings{.initial_scale = config.train.loss_scale,
                                                .growth_interval = static_cast<int>(config.train.loss_scale_growth_interval)});
  }
  LossScaler* scaler_ptr = scaler ? &*scaler : nullptr;
  const double lr = config.solver.lr;

  BenchResult result;
  result.precision = precision;
  if (ranks.parallel()) {
    const double bucket_mb = a.bucket_mb.value_or(config.train.bucket_mb);
    ranks.buckets.emplace(built.net, dist::make_transport(ranks.comm, built.net),
                          static_cast<int64_t>(bucket_mb * 1024 * 1024));
    result.buckets = static_cast<int64_t>(ranks.buckets->buckets().size());
    result.transport = ranks.buckets->transport().describe();
  }
  measure_throughput(a, built, solver, scaler_ptr, lr, synthetic, ranks, result);
  measure_layers(a, built.net, solver, scaler_ptr, lr, synthetic, ranks, result);
  if (ranks.parallel()) measure_full_allreduce(ranks.comm, built.net.parameter_count(), result);
  if (ranks.comm.rank() != 0) return 0;  // rank 0 alone prints
  if (a.json) {
    print_json(config, a, built.net, ranks.global_batch, synthetic, ranks, result);
  } else {
    print_table(config, a, built.net, ranks.global_batch, synthetic, ranks, result);
  }
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
      ->check(integer_in(1, kMaxIntFlag));
  cmd->add_option("--iters", args->iters, "Timed iterations per measurement")->capture_default_str()
      ->check(integer_in(1, kMaxIntFlag));
  cmd->add_option("--warmup", args->warmup, "Untimed iterations before each measurement")->capture_default_str()
      ->check(integer_in(0, kMaxIntFlag));
  cmd->add_option("--seed", args->seed, "Seed of the weights and the synthetic batch")->capture_default_str()
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--precision", args->precision, "fp32, tf32, bf16 or fp16 (default: the config's [train] precision)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16", "fp16"}));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of the table");
  cmd->add_option("--bucket-mb", args->bucket_mb,
                  "Under mpirun: gradient bucket size in MiB (default: the config's [train] bucket_mb)")
      ->check(number_in(0.0, 1024.0 * 1024.0));
  cmd->add_option("--ranks", args->ranks,
                  "Scaling: run under mpirun once per rank count of this list (e.g. 1,2) and print a table of "
                  "images/s, speedup and all-reduce times");
  cmd->callback([action, args] { *action = [args] { return run_bench_train(*args); }; });
}

}  // namespace kiln::cli
