// The training loop behind `kiln train` and `kiln eval`: data → net → loss → backward → solver,
// with evaluation after each epoch, metrics, checkpoints, resume, and clean stops.
//
// Reproducible: the data order, augmentation, dropout masks and initial weights all come from
// Philox keyed by the seed, so a run resumed from a checkpoint continues step for step like the
// uninterrupted one (bit-exact on the CPU).
//
// Files in the output folder:
//   metrics.csv               one row every log_every steps ("train") and one per epoch ("epoch")
//                             (regression data: RMSE and R² columns instead of accuracy, named so)
//   checkpoint.safetensors    written after every epoch, at the end, and on Ctrl-C
//   metrics.png               loss and accuracy (`kiln train` only, where matplotlib is installed)
//
// The learning-rate schedule spans the planned epochs; --steps only stops a run early.
//
// Sequence data. Batches may change shape from step to step (length-bucketed words: (N, T_b),
// T_b <= T; the net re-infers its shapes), and losses and accuracies count only real positions
// (not padding). Stream data (text with streams = true, truncated back-propagation through time):
// the loader draws batches in order without shuffling, and Net::reset_state() zeroes the state of
// stateful layers at the start of every epoch and before and after every evaluation, but not
// when a run resumes mid-epoch (the state is then the one the checkpoint restored, if any).
//
// Data-parallel (`mpirun -np N kiln train`, tools/dist/launch.h world()): [train] batch is the
// global batch, each rank trains on its rows of it (DataLoader shards, dropout keyed by the global
// sample index) on cuda:(local rank) or the CPU, gradients are averaged in buckets overlapped with
// backward (tools/dist/gradient_buckets.h), and the loss sums, the evaluation and Ctrl-C are agreed
// over the ranks; rank 0 alone logs, writes metrics and checkpoints. N ranks compute what one
// process computes, up to summation order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/config/config.h"
#include "layers/net.h"

namespace kiln {

// A net built from a config, with net inputs "data" (F32; I32 token ids for a language model whose
// first layer is an Embedding) and "label" (I32: (N), or (N*T) for sequence data; F32 (N, T) targets
// for regression data, [data] task = "regression"), plus the names of its
// loss layer and of the layer whose output the loss reads (the logits).
struct BuiltNet {
  Net net;
  std::string loss;
  std::string logits;
};
using NetBuilder = std::function<BuiltNet(const RunConfig& config, Device device)>;

struct TrainOptions {
  std::string device = "auto";
  std::optional<int64_t> epochs, steps, batch;
  std::optional<uint64_t> seed;
  std::optional<std::string> precision;  // fp32 | tf32 | bf16 | fp16 (overrides [train] precision)
  std::string out_dir;   // empty: out/<model name>
  std::string resume;    // a checkpoint to continue from
  std::string weights;   // parameters to start from (safetensors)
  bool progress_bar = false;  // a live bar (a terminal) instead of plain lines
  bool evaluate_each_epoch = true;
  bool plot = false;          // at the end, DIR/metrics.png from DIR/metrics.csv (plot_metrics)
  bool checkpoints = true;    // false: write no checkpoint (quick checks of big models)
};

struct TrainResult {
  int64_t steps = 0;
  double seconds = 0;           // training time, without evaluation
  double images_per_second = 0;
  double final_train_loss = 0;
  std::optional<double> test_loss, test_accuracy;
  bool language_model = false;  // token data: losses are per token, perplexity = exp(loss)
  // Regression data: test_accuracy is unset; test_rmse and test_r2 (see EvalResult) instead.
  bool regression = false;
  std::optional<double> test_rmse, test_r2;
  bool interrupted = false;     // Ctrl-C: a checkpoint was saved
  std::string checkpoint;       // the last checkpoint written
};

TrainResult train(const RunConfig& config, const TrainOptions& options, const NetBuilder& build);

// Runs tools/plot_metrics.py (Python + matplotlib) to turn DIR/metrics.csv into DIR/metrics.png.
// Optional: where matplotlib is missing it logs one line saying how to get the plot and returns false.
bool plot_metrics(const std::string& out_dir);

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t samples = 0;
  bool language_model = false;  // token data: loss and accuracy per token, perplexity = exp(loss)
  // Regression data (targets (N, T) float): accuracy is 0; instead, over the evaluated samples,
  // rmse = sqrt(SSE / (N*T)) over all target columns, and r2 = the mean over the T columns of
  // 1 - SSE_t / SST_t (SST_t: the column's squared deviations from its mean on these samples; a
  // column with SST_t = 0 counts as 0). loss is the loss layer's mean (MSELoss: SSE / (N*T)).
  bool regression = false;
  double rmse = 0, r2 = 0;
  // Regression with keep_samples > 0: the first K <= keep_samples test samples' targets and the
  // net's predictions, (K, T) on the host (this rank's rows; `kiln eval --reconstructions`).
  Tensor kept_targets, kept_predictions;
};
// Loss and accuracy of `weights` on the config's test set (or its training set if it has none).
EvalResult evaluate_checkpoint(const RunConfig& config, const std::string& weights, const std::string& device,
                               const NetBuilder& build, int64_t keep_samples = 0);

}  // namespace kiln
