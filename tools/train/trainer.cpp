#include "tools/train/trainer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/allocator.h"
#include "core/data/loader.h"
#include "core/error.h"
#include "core/log.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_sources.h"
#include "tools/train/loss_scaler.h"
#include "tools/train/schedule.h"
#include "tools/train/solver.h"
#include "tools/train/step_stats.h"
#include "tools/dist/bucket_transports.h"
#include "tools/dist/gradient_buckets.h"
#include "tools/dist/launch.h"

namespace kiln {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Installs the Ctrl-C handler (SIGINT, and SIGTERM: what mpirun sends its ranks when it is
// interrupted) for the lifetime of a training run.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    previous_int_ = std::signal(SIGINT, on_sigint);
    previous_term_ = std::signal(SIGTERM, on_sigint);
  }
  ~InterruptGuard() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

// A host tensor copied to `device` on its default stream (the step's), without waiting: the runtime
// stages pageable memory before the call returns (core/tensor.cpp copy_bytes); Tensor::to() would
// synchronise after it.
Tensor upload(const Tensor& host, Device device) {
  Tensor t = Tensor::empty(host.shape(), device, host.dtype());
  t.copy_from(host, Stream::default_for(device));
  return t;
}

// A batch's tensors on the net's device (a view of the host batch on the CPU). Sequence labels
// (N, T) are fed flat, (N*T), the rows of the TimeFlatten-ed logits; regression targets (N, T)
// float as they are (the shape of the prediction MSELoss compares them with).
// Sequence-to-sequence pairs add their decoder inputs (N, Y) as "decoder_input".
struct Feeds {
  Tensor x, y, decoder_input;
  Feeds(const data::Batch& b, Device device) {
    Tensor labels = b.targets.defined() ? b.targets.view() : b.labels.reshape(Shape{b.labels.numel()});
    if (device.is_cpu()) {
      x = b.x.view();
      y = std::move(labels);
      if (b.decoder_input.defined()) decoder_input = b.decoder_input.view();
    } else {
      x = upload(b.x, device);
      y = upload(labels, device);
      if (b.decoder_input.defined()) decoder_input = upload(b.decoder_input, device);
    }
  }
  std::map<std::string, const Tensor*> map() const {
    std::map<std::string, const Tensor*> m{{"data", &x}, {"label", &y}};
    if (decoder_input.defined()) m["decoder_input"] = &decoder_input;
    return m;
  }
};

// Labels that count in the loss and the accuracy: all but the ignored ones (padding of sequences).
// Regression: every target value (the loss is a mean over N*T of them).
int64_t counted_labels(const data::Batch& b) {
  if (b.targets.defined()) return b.targets.numel();
  const Tensor& host_labels = b.labels;
  const int32_t* y = host_labels.data<int32_t>();
  return std::count_if(y, y + host_labels.numel(), [](int32_t label) { return label != data::kIgnoreLabel; });
}

bool is_regression(const data::Dataset& dataset) { return dataset.task() == data::Task::Regression; }

// Regression evaluation sums, on the host, per target column t: SSE_t = sum (prediction - target)²,
// and the targets' sum and sum of squares (SST_t = sumsq_t - sum_t² / n). Laid out flat for the
// all-reduce of a data-parallel run: [sse_0..sse_T-1, sum_0.., sumsq_0..].
struct RegressionSums {
  explicit RegressionSums(int64_t columns) : columns(columns), v(static_cast<size_t>(3 * columns), 0.0) {}
  void add(const Tensor& prediction, const Tensor& host_targets) {
    const Tensor p = prediction.device().is_cpu() ? prediction.view() : prediction.to(Device::cpu());
    KILN_CHECK(p.numel() == host_targets.numel(), "regression evaluation: prediction {} and targets {} do not match",
               p.shape().str(), host_targets.shape().str());
    const float* x = p.data<float>();
    const float* y = host_targets.data<float>();
    for (int64_t i = 0; i < host_targets.numel(); ++i) {
      const size_t t = static_cast<size_t>(i % columns);
      const double d = static_cast<double>(x[i]) - y[i];
      v[t] += d * d;
      v[static_cast<size_t>(columns) + t] += y[i];
      v[static_cast<size_t>(2 * columns) + t] += static_cast<double>(y[i]) * y[i];
    }
  }
  // rmse over all values and r2 averaged over the columns, for n samples.
  void finish(double n, EvalResult& r) const {
    if (n <= 0) return;
    double sse = 0, r2 = 0;
    for (size_t t = 0; t < static_cast<size_t>(columns); ++t) {
      const double sum = v[static_cast<size_t>(columns) + t], sumsq = v[static_cast<size_t>(2 * columns) + t];
      const double sst = sumsq - sum * sum / n;
      sse += v[t];
      r2 += sst > 0 ? 1 - v[t] / sst : 0;
    }
    r.rmse = std::sqrt(sse / (n * static_cast<double>(columns)));
    r.r2 = r2 / static_cast<double>(columns);
  }
  int64_t columns;
  std::vector<double> v;
};

// Regression evaluation: the first `keep` rows of targets and predictions on the host (EvalResult::
// kept_targets / kept_predictions, (K, T)), appended batch by batch.
void keep_rows(const Tensor& prediction, const Tensor& host_targets, int64_t keep, EvalResult& r) {
  const int64_t have = r.kept_targets.defined() ? r.kept_targets.dim(0) : 0;
  const int64_t take = std::min(keep - have, host_targets.dim(0));
  if (take <= 0) return;
  const int64_t t = host_targets.numel() / host_targets.dim(0);
  const Tensor p = prediction.device().is_cpu() ? prediction.view() : prediction.to(Device::cpu());
  Tensor targets = Tensor::empty(Shape{have + take, t}, Device::cpu(), DType::F32);
  Tensor predictions = Tensor::empty(Shape{have + take, t}, Device::cpu(), DType::F32);
  const auto append = [&](Tensor& out, const Tensor& old, const float* rows) {
    float* o = out.data<float>();
    if (have > 0) std::copy_n(old.data<float>(), have * t, o);
    std::copy_n(rows, take * t, o + have * t);
  };
  append(targets, r.kept_targets, host_targets.data<float>());
  append(predictions, r.kept_predictions, p.data<float>());
  r.kept_targets = std::move(targets);
  r.kept_predictions = std::move(predictions);
}

// Loss and accuracy over `dataset` in batches of `batch` (stream data: of its streams), summed on
// the net's device and read once at the end. Stateful layers start from zeros and get the state
// carried between training batches back afterwards, so evaluation neither sees nor disturbs it.
//
// Data-parallel: each rank evaluates its rows of every batch and the sums are added over the
// ranks, so the result is the single-process one (up to summation order).
EvalResult evaluate(BuiltNet& built, const data::Dataset& dataset, int64_t batch, int workers,
                    dist::Communicator& comm, int64_t keep = 0) {
  data::LoaderOptions lo;
  lo.batch_size = dataset.streams() > 0 ? dataset.streams() : batch;
  lo.shuffle = false;
  lo.train = false;
  lo.workers = workers;
  lo.prefetch = 2;
  lo.shard = comm.rank();
  lo.shards = comm.size();
  data::DataLoader loader(std::shared_ptr<const data::Dataset>(&dataset, [](const data::Dataset*) {}), lo);
  Net& net = built.net;
  const bool was_training = net.training();
  net.set_training(false);
  // The training batches' carried state, put back afterwards (a run stopped right after this
  // evaluation checkpoints it and resumes exactly).
  std::map<std::string, Tensor> carried;
  for (const auto& [name, state] : net.carried_state()) carried[name] = state->clone();
  net.reset_state();
  EvalResult r;
  r.language_model = dataset.input_dtype() == DType::I32;
  r.regression = is_regression(dataset);
  RegressionSums regression(r.regression ? dataset.target_dim() : 0);
  StepStats stats(net.device());
  int64_t labels = 0;
  for (int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    const data::Batch b = loader.next();
    if (b.size() == 0) continue;  // a last batch with fewer rows than ranks
    const Feeds feeds(b, net.device());
    net.set_batch_shard(b.first_sample, b.global_size);
    net.forward(feeds.map());
    const int64_t counted = counted_labels(b);  // the loss is a mean over them
    if (r.regression) {
      stats.add_loss(net.output(built.loss), counted, i + 1, net.stream());
      regression.add(net.output(built.logits), b.targets);  // a host read per batch (evaluation only)
      keep_rows(net.output(built.logits), b.targets, keep, r);
    } else {
      stats.add(net.output(built.loss), net.output(built.logits), feeds.y, counted, i + 1, net.stream());
    }
    labels += counted;
    r.samples += b.size();
  }
  const StepStats::Totals totals = stats.read();
  net.set_training(was_training);
  net.reset_state();
  net.set_carried_state(std::move(carried));
  std::vector<double> sums = {totals.epoch_loss, totals.epoch_correct, static_cast<double>(labels),
                              static_cast<double>(r.samples)};
  sums.insert(sums.end(), regression.v.begin(), regression.v.end());
  comm.allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()));
  r.samples = static_cast<int64_t>(sums[3]);
  if (sums[2] > 0) {  // per label: per image, or per token of a sequence (padding excluded)
    r.loss = sums[0] / sums[2];
    r.accuracy = sums[1] / sums[2];
  }
  if (r.regression) {
    std::copy(sums.begin() + 4, sums.end(), regression.v.begin());
    regression.finish(sums[3], r);
  }
  return r;
}

// metrics.csv, a row at a time, each flushed. A write that fails (a full disk, a quota, an I/O
// error) is not ignored: the file is cut back to its last whole row (a resumed run appends to it),
// the first failure is kept (error()) and nothing more is written; the run saves its checkpoint
// and stops with it (Trainer::stop_on_metrics_error).
//
// Regression runs have their own header (the columns mean other things, so they are named so):
//   kind,epoch,step,lr,train_loss,train_rmse,test_loss,test_rmse,test_r2,samples_per_second,seconds
// train_rmse is sqrt(train_loss) with MSELoss (empty with another loss).
class Metrics {
 public:
  Metrics(const std::string& path, bool append, bool regression)
      : path_(path), out_(path, append ? std::ios::app : std::ios::trunc), regression_(regression) {
    if (!out_) fail(fmt::format("cannot write the metrics file '{}': {}", path, std::strerror(errno)));
    std::error_code ec;
    if (append && std::filesystem::is_regular_file(path, ec)) whole_ = std::filesystem::file_size(path, ec);
    if (ec) whole_ = 0;
    if (!append) {
      write(regression ? "kind,epoch,step,lr,train_loss,train_rmse,test_loss,test_rmse,test_r2,samples_per_second,seconds\n"
                       : "kind,epoch,step,lr,train_loss,train_accuracy,test_loss,test_accuracy,images_per_second,seconds\n");
    }
    if (!error_.empty()) fail(error_);  // nothing trained yet: stop now
  }
  // Regression: `acc` is the training RMSE and `test_acc` the test RMSE (NaN: left empty), and
  // test_r2 fills its column.
  void row(const char* kind, int64_t epoch, int64_t step, double lr, double loss, double acc,
           std::optional<double> test_loss, std::optional<double> test_acc, double ips, double seconds,
           std::optional<double> test_r2 = {}) {
    auto cell = [](std::optional<double> v) { return v && !std::isnan(*v) ? fmt::format("{:.6f}", *v) : std::string(); };
    write(fmt::format("{},{},{},{:.6g},{:.6f},{},{},{},{}{:.1f},{:.2f}\n", kind, epoch, step, lr, loss, cell(acc),
                      cell(test_loss), cell(test_acc), regression_ ? cell(test_r2) + "," : "", ips, seconds));
  }
  // "cannot write the metrics file '...': No space left on device" after a failed write; else "".
  const std::string& error() const { return error_; }

 private:
  void write(const std::string& text) {
    if (!error_.empty()) return;
    errno = 0;
    out_ << text;
    out_.flush();
    if (out_) {
      whole_ += text.size();
      return;
    }
    const int e = errno;
    error_ = fmt::format("cannot write the metrics file '{}': {}", path_, e != 0 ? std::strerror(e) : "the write failed");
    out_.close();
    std::error_code ec;
    if (std::filesystem::is_regular_file(path_, ec)) std::filesystem::resize_file(path_, whole_, ec);
  }

  std::string path_;
  std::ofstream out_;
  std::string error_;
  uintmax_t whole_ = 0;  // bytes of whole rows in the file
  bool regression_ = false;
};

// Quotes a path for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The net inputs' shapes for a batch of `batch` samples of `dataset` (labels (N*L) for L labels
// per sample; regression targets (N, T)).
std::map<std::string, Shape> input_shapes(const RunConfig& config, const data::Dataset& dataset, int64_t batch) {
  Shape x_shape{batch};
  for (int64_t d : config.input) x_shape.push_back(d);
  if (is_regression(dataset)) return {{"data", x_shape}, {"label", Shape{batch, dataset.target_dim()}}};
  if (dataset.decoder_length() > 0)
    return {{"data", x_shape},
            {"decoder_input", Shape{batch, dataset.decoder_length()}},
            {"label", Shape{batch * dataset.decoder_length()}}};
  return {{"data", x_shape}, {"label", Shape{batch * dataset.labels_per_sample()}}};
}

// The loss layer must suit the data: regression targets (float) need a regression loss (MSELoss),
// class labels (int32) a classification one. Said here, at the loss's [[layer]] line, rather than
// as the loss layer's dtype error.
void check_loss_fits_task(const RunConfig& config, const BuiltNet& built, const data::Dataset& dataset) {
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerSpec& spec = config.layers[i];
    if (spec.name != built.loss) continue;
    // A loss on other inputs (not the data's labels) is the model's business.
    if (!spec.inputs.empty() && std::find(spec.inputs.begin(), spec.inputs.end(), "label") == spec.inputs.end()) return;
    const int line = i < config.layer_lines.size() ? config.layer_lines[i] : 0;
    const bool regression_loss =
        spec.type == "MSELoss" || spec.type == "L1Loss" || spec.type == "HuberLoss" || spec.type == "BCELoss";
    if (is_regression(dataset) && !regression_loss) {
      fail(fmt::format("{}:{}: the loss layer '{}' is {}, but the data ({}) is a regression one ([data] task = "
                       "\"regression\" or target = \"input\": float targets): end the model with type = \"MSELoss\" (or L1Loss, "
                       "HuberLoss, BCELoss)", config.path, line,
                       spec.name, spec.type, dataset.describe()));
    }
    if (!is_regression(dataset) && regression_loss && dataset.input_dtype() == DType::F32) {
      fail(fmt::format("{}:{}: the loss layer '{}' is {}, a regression loss, but the data ({}) has class "
                       "labels: for a CSV with numeric targets set [data] task = \"regression\"", config.path, line,
                       spec.name, spec.type, dataset.describe()));
    }
  }
}

// The logits must have a column for every class of the data: a label past the last column is an
// error on the CPU but only a NaN loss on the GPU, which would read as divergence.
void check_logits_cover_classes(const RunConfig& config, const BuiltNet& built, const data::Dataset& dataset) {
  if (is_regression(dataset)) return;  // the loss layer checks the prediction's shape against the targets'
  const Shape& logits = built.net.shape_of(built.logits);
  const int64_t columns = logits[logits.rank() - 1];
  KILN_CHECK(columns >= dataset.num_classes(),
             "{}: the model's output '{}' has {} classes but the data ({}) has {}: give the last layer before the "
             "loss {} outputs", config.path, built.logits, columns, dataset.describe(), dataset.num_classes(),
             dataset.num_classes());
}

}  // namespace

bool plot_metrics(const std::string& out_dir) {
  const std::string script = KILN_PLOT_SCRIPT;
  const std::string python = "/usr/bin/python3";
  const std::string csv = out_dir + "/metrics.csv";
  if (!std::filesystem::exists(python) || !std::filesystem::exists(script) ||
      std::system((python + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) != 0) {
    log::info("no plot of {}: it needs Python's matplotlib (Debian: apt-get install python3-matplotlib), then "
              "run: python3 {} {}", csv, script, out_dir);
    return false;
  }
  const std::string command = fmt::format("{} {} {} >/dev/null 2>&1", python, shell_quote(script), shell_quote(out_dir));
  if (std::system(command.c_str()) != 0) {
    log::warn("could not plot {} (run python3 {} {} to see why)", csv, script, out_dir);
    return false;
  }
  log::info("plot of loss and accuracy: {}/metrics.png", out_dir);
  return true;
}

namespace {

// What training sums between two log lines (the window) and over an epoch: samples and labels on the
// host (they come with the batches), loss and correct copied from the device's StepStats when read.
struct RunningSums {
  double loss = 0, correct = 0, samples = 0, labels = 0;
  double mean_loss() const { return labels > 0 ? loss / labels : 0; }
  double accuracy() const { return labels > 0 ? correct / labels : 0; }
};

// The command line's overrides applied to the config's [train] settings.
TrainSettings resolve_settings(const RunConfig& config, const TrainOptions& options, const dist::Communicator& comm) {
  TrainSettings settings = config.train;
  if (options.epochs) settings.epochs = *options.epochs;
  if (options.batch) settings.batch = *options.batch;
  if (options.seed) settings.seed = *options.seed;
  if (options.precision) settings.precision = *options.precision;
  KILN_CHECK(precision_from_name(settings.precision).has_value() && settings.precision != "f32" &&
                 settings.precision != "f16",
             "--precision must be fp32, tf32, bf16 or fp16, got '{}'", settings.precision);
  KILN_CHECK(settings.epochs >= 1 && settings.batch >= 1, "--epochs and --batch must be >= 1");
  KILN_CHECK(!options.steps || *options.steps >= 1, "--steps must be >= 1");
  KILN_CHECK(settings.batch % comm.size() == 0,
             "{}: [train] batch {} is the global batch, split evenly over the {} ranks, and does not divide by {}: "
             "give a batch that does (e.g. {})", config.path, settings.batch, comm.size(), comm.size(),
             (settings.batch / comm.size() + 1) * comm.size());
  return settings;
}

// net.setup, with a layer's error ("layer 'conv1' (Conv2d): ...") placed at its [[layer]] line.
void setup_naming_the_line(const RunConfig& config, Net& net, const std::map<std::string, Shape>& shapes) {
  try {
    net.setup(shapes);
  } catch (const Error& e) {
    for (size_t i = 0; i < config.layers.size() && i < config.layer_lines.size(); ++i) {
      if (e.message().starts_with("layer '" + config.layers[i].name + "'")) {
        fail(fmt::format("{}:{}: {}", config.path, config.layer_lines[i], e.message()));
      }
    }
    throw;
  }
}

// epochs × steps per epoch, refused when it does not fit in 64 bits (it would wrap to 0 or less).
int64_t planned_steps(const RunConfig& config, const TrainSettings& settings, int64_t steps_per_epoch) {
  int64_t steps = 0;
  if (__builtin_mul_overflow(settings.epochs, steps_per_epoch, &steps)) {
    fail(fmt::format("{}: [train] epochs = {} (or --epochs) times {} steps per epoch overflows the step count: "
                     "use fewer epochs (at most {})", config.path, settings.epochs, steps_per_epoch,
                     INT64_MAX / std::max<int64_t>(steps_per_epoch, 1)));
  }
  return steps;
}

data::LoaderOptions training_loader_options(const TrainSettings& settings, const DataSplits& data,
                                           const dist::Communicator& comm) {
  data::LoaderOptions lo;
  lo.batch_size = settings.batch;
  lo.shuffle = settings.shuffle;
  lo.drop_last = data.train->size() > settings.batch;  // every step sees a full batch
  lo.seed = settings.seed;
  lo.workers = data.workers;
  lo.shard = comm.rank();
  lo.shards = comm.size();
  return lo;
}

// Rank 0 alone logs at info level in a run of several ranks; the others say only warnings and errors.
class QuietUnlessRankZero {
 public:
  explicit QuietUnlessRankZero(const dist::Communicator& comm) : previous_(log::level()) {
    if (comm.rank() != 0 && previous_ < log::Level::Warn) log::set_level(log::Level::Warn);
  }
  ~QuietUnlessRankZero() { log::set_level(previous_); }
  QuietUnlessRankZero(const QuietUnlessRankZero&) = delete;
  QuietUnlessRankZero& operator=(const QuietUnlessRankZero&) = delete;

 private:
  log::Level previous_;
};

// One `kiln train` run: the net, its data, solver and schedule, and the loop that steps through
// them, logs, evaluates each epoch, checkpoints and stops on Ctrl-C.
class TrainingRun {
 public:
  TrainingRun(const RunConfig& config, const TrainOptions& options, const NetBuilder& build)
      : config_(config),
        options_(options),
        comm_(dist::world()),
        quiet_(comm_),
        settings_(resolve_settings(config, options, comm_)),
        device_(dist::rank_device(options.device, comm_)),
        // The model first: a mistake in [[layer]] is reported before any data file is opened.
        built_(build(config, device_)),
        eval_batch_(settings_.eval_batch > 0 ? settings_.eval_batch : settings_.batch),
        data_(make_datasets(config, settings_.batch, eval_batch_)),
        loader_(data_.train, training_loader_options(settings_, data_, comm_)),
        steps_per_epoch_(loader_.batches_per_epoch()),
        total_steps_(std::min(planned_steps(config, settings_, steps_per_epoch_), options.steps.value_or(INT64_MAX))),
        // The schedule spans the planned epochs, not --steps: --steps only stops the run early, so a
        // run stopped at step k and resumed follows the same learning-rate curve as the uninterrupted one.
        schedule_(config.schedule, config.solver.lr, steps_per_epoch_, planned_steps(config, settings_, steps_per_epoch_)),
        out_dir_(options.out_dir.empty() ? "out/" + (config.name.empty() ? "run" : config.name) : options.out_dir),
        checkpoint_path_(out_dir_ + "/checkpoint.safetensors") {
    if (data_.train->streams() > 0 && settings_.shuffle) {
      log::info("{}: [data] streams = true: batches continue each other row by row, so they are drawn in order "
                "(no shuffling)", config.path);
    }
    Net& net = built_.net;
    check_loss_fits_task(config, built_, *data_.train);
    setup_naming_the_line(config, net, input_shapes(config, *data_.train, settings_.batch));
    check_logits_cover_classes(config, built_, *data_.train);
    net.init_parameters(settings_.seed);
    if (!options.weights.empty()) load_weights(options.weights, net);
    solver_.emplace(config.solver, net);
    net.set_precision(*precision_from_name(settings_.precision));
    if (net.precision() == MathPrecision::F16) {
      // Clipping then acts on the unscaled gradients inside the scaler's factor.
      scaler_.emplace(net, LossScaleSettings{.initial_scale = settings_.loss_scale,
                                             .growth_interval = static_cast<int>(settings_.loss_scale_growth_interval),
                                             .max_norm = settings_.clip_grad_norm});
    } else if (settings_.clip_grad_norm > 0) {
      clipper_.emplace(net, settings_.clip_grad_norm);
    }
    if (rank_zero()) make_out_dir();
    progress_.seed = settings_.seed;
    progress_.model_hash = config.model_hash;
    progress_.vocabulary = data_.train->token_vocabulary();
    if (!options.resume.empty()) resume();
    if (comm_.size() > 1) start_data_parallel();
    if (rank_zero()) metrics_.emplace(out_dir_ + "/metrics.csv", !options.resume.empty(), regression());
    result_.language_model = language_model();
    result_.regression = regression();
  }

  TrainResult run() {
    log_start();
    InterruptGuard interrupt_guard;
    const auto t_start = Clock::now();
    while (progress_.step < total_steps_) {
      const data::Batch batch = loader_.next();
      const double lr = step(batch);
      report_step(batch, lr, t_start);
      if (batch.last_in_epoch || progress_.step == total_steps_) end_epoch(batch.position.epoch, lr, t_start);
      if (metrics_ && !metrics_->error().empty()) stop_on_metrics_error();
      if (interrupted()) {
        if (show_progress_bar()) fmt::print(stderr, "\n");
        read_stats();  // never checkpoint parameters a non-finite loss has reached
        save();
        if (rank_zero()) log::warn("interrupted at step {}: checkpoint saved to {} (continue with --resume {})", progress_.step,
                  checkpoint_path_, checkpoint_path_);
        result_.interrupted = true;
        break;
      }
    }
    result_.steps = progress_.step;
    result_.seconds = train_seconds_;
    result_.images_per_second = images_per_second();
    result_.final_train_loss = last_loss_;
    log::info("peak memory: {} activations, {} allocated on {}{}", format_bytes(built_.net.peak_activation_bytes()),
              format_bytes(allocator_for(device_).stats().peak), device_.str(), comm_.size() > 1 ? " (rank 0)" : "");
    if (buckets_) {
      log::info("gradient all-reduce: {:.2f} ms per step not hidden behind backward ({} bucket(s), {})",
                1e3 * buckets_->seconds_waited() / std::max<int64_t>(steps_run_, 1), buckets_->buckets().size(),
                buckets_->transport().describe());
    }
    if (options_.plot && rank_zero()) plot_metrics(out_dir_);
    return result_;
  }

 private:
  // Token data (a language model): loss is per token and perplexity = exp(loss) is reported too.
  bool language_model() const { return data_.train->input_dtype() == DType::I32; }
  // Float targets (N, T) and a loss on them: RMSE and R² instead of accuracy.
  bool regression() const { return is_regression(*data_.train); }
  // The RMSE of a mean squared error: the loss's square root with MSELoss; NaN (not shown) with
  // another loss.
  double rmse_of(double mean_loss) const {
    return loss_type() == "MSELoss" ? std::sqrt(std::max(mean_loss, 0.0)) : std::nan("");
  }
  std::string loss_type() const {
    for (const LayerSpec& spec : config_.layers) {
      if (spec.name == built_.loss) return spec.type;
    }
    return {};
  }
  // What the logs and metrics show in the accuracy's place: the accuracy, or the RMSE.
  double accuracy_or_rmse(const RunningSums& sums) const {
    return regression() ? rmse_of(sums.mean_loss()) : sums.accuracy();
  }
  bool rank_zero() const { return comm_.rank() == 0; }
  bool show_progress_bar() const { return options_.progress_bar && rank_zero(); }

  // Ctrl-C (or SIGTERM) on any rank stops every rank after the same step: the ranks agree every
  // step (a one-number all-reduce on the host; nothing for a single process).
  bool interrupted() const {
    if (comm_.size() == 1) return g_interrupted.load();
    int64_t any = g_interrupted.load() ? 1 : 0;
    comm_.allreduce_sum(&any, 1);
    return any > 0;
  }

  // Every rank starts from rank 0's parameters and buffers (they are equal already, from the same
  // seed or file; this makes it a fact) and averages its gradients with the others' in buckets.
  // BatchNorm's running statistics then follow each rank's own batches (PyTorch DDP without
  // SyncBatchNorm); rank 0's are the ones checkpoints keep.
  void start_data_parallel() {
    Net& net = built_.net;
    std::vector<Tensor*> tensors;
    for (const Net::ParamRef& p : net.parameters()) tensors.push_back(&p.param->value);
    for (const Net::BufferRef& b : net.buffers()) tensors.push_back(b.value);
    for (Tensor* t : tensors) {
      Tensor host = t->to(Device::cpu());
      comm_.broadcast(host.raw_data(), static_cast<int64_t>(host.nbytes()));
      t->copy_from(host);
    }
    buckets_.emplace(net, dist::make_transport(comm_, net),
                     static_cast<int64_t>(settings_.bucket_mb * 1024 * 1024));
  }
  double images_per_second() const { return static_cast<double>(images_) / std::max(train_seconds_, 1e-9); }

  // The output folder (--out, default out/<name>); a path that cannot be a folder is named with the reason.
  void make_out_dir() const {
    std::error_code ec;
    std::filesystem::create_directories(out_dir_, ec);
    if (ec || !std::filesystem::is_directory(out_dir_)) {
      fail(fmt::format("cannot create the output folder '{}' (--out{}): {}", out_dir_,
                       options_.out_dir.empty() ? ", default out/<model name>" : "",
                       ec ? ec.message() : "a file of that name is in the way"));
    }
  }

  void resume() {
    const std::string& path = options_.resume;
    progress_ = load_checkpoint(path, built_.net, *solver_, config_.model_hash,
                                scaler_ ? &scaler_->state_tensor() : nullptr);
    KILN_CHECK(progress_.seed == settings_.seed, "'{}' was trained with seed {}, this run has seed {}: resume with --seed {}",
               path, progress_.seed, settings_.seed, progress_.seed);
    const data::Dataset::TokenVocabulary vocabulary = data_.train->token_vocabulary();
    KILN_CHECK(progress_.vocabulary.tokens.empty() || progress_.vocabulary.tokens == vocabulary.tokens,
               "'{}' was trained with another vocabulary ({} {}) than this run's data ({} {}): the token ids would "
               "mean other tokens", path, progress_.vocabulary.tokens.size(), progress_.vocabulary.kind,
               vocabulary.tokens.size(), vocabulary.kind);
    progress_.vocabulary = vocabulary;
    KILN_CHECK(progress_.batch < steps_per_epoch_,
               "'{}': metadata 'batch' = {} is past the end of this run's epochs of {} batches: the checkpoint was "
               "written with other data or another batch size", path, progress_.batch, steps_per_epoch_);
    KILN_CHECK(progress_.epoch <= INT64_MAX / steps_per_epoch_ - 1,
               "'{}': metadata 'epoch' = {} is impossibly large (a damaged or hand-edited checkpoint)", path,
               progress_.epoch);
    loader_.seek({progress_.epoch, progress_.batch});
    log::info("resuming from {} at step {} (epoch {}, batch {})", path, progress_.step, progress_.epoch + 1,
              progress_.batch);
  }

  void log_start() const {
    const std::string batch =
        comm_.size() == 1 ? fmt::format("batch {}", settings_.batch)
                          : fmt::format("global batch {} = {} ranks × {}", settings_.batch, comm_.size(),
                                        settings_.batch / comm_.size());
    log::info("model {}: {} parameters on {}, precision {}; {} training samples ({}), {}, {} steps per epoch",
              config_.name, built_.net.parameter_count(), device_.str(), settings_.precision, data_.train->size(),
              data_.train->describe(), batch, steps_per_epoch_);
    if (buckets_) {
      log::info("data-parallel: {}; gradients all-reduced in {} bucket(s) of up to {:g} MiB ({})", comm_.describe(),
                buckets_->buckets().size(), settings_.bucket_mb, buckets_->transport().describe());
    }
    if (const double h = data_.train->unigram_entropy(); h >= 0) {
      log::info("unigram baseline (the best loss without context): {:.4f} nats per token, perplexity {:.2f}", h,
                std::exp(h));
    }
  }

  // Forward, backward and the solver's update on one batch; returns the learning rate used. It
  // only queues work on a GPU: the loss and accuracy are summed on the device (stats_), clipping's
  // norm and scale too (clipper_), and nothing is read back (read_stats() does, when a log line or
  // an epoch's end needs the numbers). The batch's upload is the step's only copy between host and
  // device.
  double step(const data::Batch& batch) {
    const auto t0 = Clock::now();
    Net& net = built_.net;
    // Stateful layers start each epoch from zeros; a run resumed mid-epoch keeps the state its
    // checkpoint restored.
    if (batch.position.batch == 0) net.reset_state();
    const Feeds feeds(batch, device_);
    net.zero_grad();
    net.set_batch_shard(batch.first_sample, batch.global_size);
    net.forward(feeds.map());
    warn_once_about_unrelated_state();
    net.backward(scaler_ ? &scaler_->scale() : nullptr);
    if (buckets_) buckets_->finish();
    ++steps_run_;
    if (scaler_) scaler_->queue();
    if (clipper_) clipper_->queue();
    const double lr = schedule_.at(progress_.step);
    solver_->step(lr, 1.0f, scaler_ ? &scaler_->grad_scale() : clipper_ ? &clipper_->scale() : nullptr);
    ++progress_.step;
    const int64_t counted = counted_labels(batch);
    if (regression()) {
      stats_.add_loss(net.output(built_.loss), counted, progress_.step, net.stream());
    } else {
      stats_.add(net.output(built_.loss), net.output(built_.logits), feeds.y, counted, progress_.step, net.stream());
    }
    train_seconds_ += seconds_since(t0);  // on a GPU: queueing; the wait is counted by read_stats()
    images_ += batch.global_size;
    for (RunningSums* sums : {&window_, &epoch_}) {
      sums->samples += static_cast<double>(batch.size());
      sums->labels += static_cast<double>(counted);
    }
    local_window_labels_ += static_cast<double>(counted);
    local_epoch_labels_ += static_cast<double>(counted);
    return lr;
  }

  // Copies the device's loss and accuracy sums into window_, epoch_ and last_loss_: the one host
  // read of training, which waits for the queued steps (that wait counts as training time). Stops
  // the run if a step's loss was not finite.
  void read_stats() {
    const auto t0 = Clock::now();
    StepStats::Totals t = stats_.read();
    if (comm_.size() > 1) t = sum_over_ranks(t);
    train_seconds_ += seconds_since(t0);
    window_.loss = t.window_loss;
    window_.correct = t.window_correct;
    epoch_.loss = t.epoch_loss;
    epoch_.correct = t.epoch_correct;
    last_loss_ = t.last_loss;
    if (t.first_bad_step != 0) stop_on_non_finite(t.first_bad_loss, t.first_bad_step);
    if (scaler_) log_loss_scale();
  }

  // The ranks' sums added up (each rank's window_ and epoch_ count its own labels, so they become
  // the global counts here too), the last loss averaged, and the first non-finite loss of any rank,
  // so that every rank stops at the same read.
  StepStats::Totals sum_over_ranks(const StepStats::Totals& t) {
    const size_t ranks = static_cast<size_t>(comm_.size()), me = static_cast<size_t>(comm_.rank());
    std::vector<double> v(7 + 2 * ranks, 0.0);
    v[0] = t.window_loss, v[1] = t.window_correct, v[2] = t.epoch_loss, v[3] = t.epoch_correct;
    v[4] = t.last_loss / static_cast<double>(ranks), v[5] = local_window_labels_, v[6] = local_epoch_labels_;
    v[7 + me] = static_cast<double>(t.first_bad_step);
    v[7 + ranks + me] = t.first_bad_loss;
    comm_.allreduce_sum(v.data(), static_cast<int64_t>(v.size()));
    StepStats::Totals out{.window_loss = v[0], .window_correct = v[1], .epoch_loss = v[2], .epoch_correct = v[3],
                          .last_loss = v[4], .first_bad_step = 0, .first_bad_loss = 0};
    window_.labels = v[5];
    epoch_.labels = v[6];
    for (size_t r = 0; r < ranks; ++r) {
      const auto step = static_cast<int64_t>(v[7 + r]);
      if (step != 0 && (out.first_bad_step == 0 || step < out.first_bad_step)) {
        out.first_bad_step = step;
        out.first_bad_loss = v[7 + ranks + r];
      }
    }
    return out;
  }

  // FP16: a line whenever the loss scale moved or steps were skipped since the last one.
  void log_loss_scale() {
    const LossScaler::State st = scaler_->read();
    if (st.scale == logged_loss_scale_ && st.skipped_steps == logged_skipped_) return;
    log::info("fp16 loss scale {:g}{}", st.scale,
              st.skipped_steps == logged_skipped_
                  ? std::string()
                  : fmt::format(" ({} step{} skipped since the last report: the scaled gradients overflowed, so "
                                "those steps made no update; {} in all)",
                                st.skipped_steps - logged_skipped_, st.skipped_steps - logged_skipped_ == 1 ? "" : "s",
                                st.skipped_steps));
    logged_loss_scale_ = st.scale;
    logged_skipped_ = st.skipped_steps;
  }

  void warn_once_about_unrelated_state() {
    if (warned_unrelated_state_ || data_.train->streams() > 0 || built_.net.carried_state().empty()) return;
    log::warn("{}: a layer is stateful (it carries its state from batch to batch) but the training samples are "
              "independent sequences, so it starts each batch from the end of unrelated text; set [data] streams "
              "= true, or drop stateful", config_.path);
    warned_unrelated_state_ = true;
  }

  // `step` is 1-based; the loss is found when the sums are read (at most log_every steps later), and
  // the message names the step it came from.
  [[noreturn]] void stop_on_non_finite(double loss, int64_t step) const {
    const int64_t index = step - 1;  // batches per epoch are fixed (drop_last), so the position follows
    fail(fmt::format("the loss is {} at step {} (epoch {}, batch {}): training stopped. {} Lower the learning rate "
                     "(now {:.3g}) or set [train] clip_grad_norm.",
                     std::isnan(loss) ? "NaN" : (loss > 0 ? "+inf" : "-inf"), step, index / steps_per_epoch_ + 1,
                     index % steps_per_epoch_,
                     result_.checkpoint.empty() ? "No checkpoint was written yet."
                                                : fmt::format("The last good checkpoint is {}.", result_.checkpoint),
                     schedule_.at(index)));
  }

  // metrics.csv could not be written (a full disk): the training so far is kept in a checkpoint
  // when there is room for one (the last good one stays otherwise), and the run stops naming both.
  // Data-parallel, only rank 0 gets here, so nothing collective may run (read_stats() is): the
  // last checkpoint stands.
  [[noreturn]] void stop_on_metrics_error() {
    if (show_progress_bar()) fmt::print(stderr, "\n");
    std::string why_not;
    if (options_.checkpoints && comm_.size() == 1 && saved_at_step_ != progress_.step) {
      try {
        read_stats();  // never checkpoint parameters a non-finite loss has reached
        save();
      } catch (const Error& e) {
        why_not = fmt::format("the checkpoint could not be saved either ({}); ", e.message());
      }
    }
    std::string kept;
    if (!options_.checkpoints) {
      kept = "no checkpoint is written (checkpoints are off)";
    } else if (saved_at_step_ == progress_.step) {
      kept = fmt::format("the checkpoint of step {} is saved: continue with --resume {} once there is room",
                         progress_.step, checkpoint_path_);
    } else if (saved_at_step_ >= 0) {
      kept = fmt::format("{}the last good checkpoint is {} (step {})", why_not, checkpoint_path_, saved_at_step_);
    } else {
      kept = fmt::format("{}no checkpoint was written yet", why_not);
    }
    fail(fmt::format("{}: training stopped at step {}; {}", metrics_->error(), progress_.step, kept));
  }

  // The progress bar after every step; a log line and a metrics row every log_every steps, which
  // read the device's sums (the bar shows the loss and accuracy of the last window read).
  void report_step(const data::Batch& batch, double lr, Clock::time_point t_start) {
    const int64_t epoch = batch.position.epoch;
    const bool log_now = progress_.step % settings_.log_every == 0;
    if (log_now) {
      read_stats();
      shown_ = window_;
    }
    const double eta =
        (total_steps_ - progress_.step) * (train_seconds_ / std::max<int64_t>(images_ / settings_.batch, 1));
    if (show_progress_bar()) {
      const int64_t in_epoch = batch.position.batch + 1;
      const int width = 24, filled = static_cast<int>(width * in_epoch / steps_per_epoch_);
      const std::string second = regression() ? fmt::format("rmse {:.4f}", rmse_of(shown_.mean_loss()))
                                              : fmt::format("acc {:5.1f}%", 100 * shown_.accuracy());
      fmt::print(stderr, "\r epoch {}/{} [{}{}] {:3}% loss {:.4f} {} {:.0f} {}/s ETA {}   ", epoch + 1,
                 settings_.epochs, std::string(filled, '='), std::string(width - filled, ' '),
                 100 * in_epoch / steps_per_epoch_, shown_.mean_loss(), second, images_per_second(),
                 regression() ? "samples" : "img", duration_text(eta));
    }
    if (!log_now) return;
    if (!show_progress_bar()) {
      if (regression()) {
        log::info("epoch {} step {}/{}: loss {:.4f}, RMSE {:.4f}, lr {:.4g}, {:.0f} samples/s, ETA {}", epoch + 1,
                  progress_.step, total_steps_, window_.mean_loss(), rmse_of(window_.mean_loss()), lr,
                  images_per_second(), duration_text(eta));
      } else {
        log::info("epoch {} step {}/{}: loss {:.4f}, accuracy {:.2f}%, lr {:.4g}, {:.0f} images/s, ETA {}", epoch + 1,
                  progress_.step, total_steps_, window_.mean_loss(), 100 * window_.accuracy(), lr, images_per_second(),
                  duration_text(eta));
      }
    }
    if (metrics_) metrics_->row("train", epoch + 1, progress_.step, lr, window_.mean_loss(), accuracy_or_rmse(window_),
                  {}, {}, images_per_second(), seconds_since(t_start), {});
    window_ = {};
    local_window_labels_ = 0;
    stats_.reset_window(built_.net.stream());
  }

  // The epoch's training loss (language models), the test set's loss and accuracy, a metrics row
  // and a checkpoint.
  void end_epoch(int64_t epoch, double lr, Clock::time_point t_start) {
    if (show_progress_bar()) fmt::print(stderr, "\n");
    read_stats();
    if (language_model() && epoch_.labels > 0) {
      const double mean = epoch_.mean_loss();
      log::info("epoch {}: train loss {:.4f}, perplexity {:.2f} (per token)", epoch + 1, mean, std::exp(mean));
    }
    epoch_ = {};
    local_epoch_labels_ = 0;
    stats_.reset_epoch(built_.net.stream());
    std::optional<double> test_loss, test_acc, test_r2;
    if (data_.test && options_.evaluate_each_epoch) {
      const EvalResult e = evaluate(built_, *data_.test, eval_batch_, data_.workers, comm_);
      test_loss = result_.test_loss = e.loss;
      if (e.regression) {
        test_acc = result_.test_rmse = e.rmse;
        test_r2 = result_.test_r2 = e.r2;
      } else {
        test_acc = result_.test_accuracy = e.accuracy;
      }
      if (e.regression) {
        log::info("epoch {}: test loss {:.4f}, RMSE {:.4f}, R² {:.4f} ({} samples)", epoch + 1, e.loss, e.rmse, e.r2,
                  e.samples);
      } else if (language_model()) {
        log::info("epoch {}: validation loss {:.4f}, perplexity {:.2f}, next-token accuracy {:.2f}% ({} "
                  "sequences)", epoch + 1, e.loss, std::exp(e.loss), 100 * e.accuracy, e.samples);
      } else {
        log::info("epoch {}: test loss {:.4f}, test accuracy {:.2f}% ({} samples)", epoch + 1, e.loss,
                  100 * e.accuracy, e.samples);
      }
    }
    if (metrics_) metrics_->row("epoch", epoch + 1, progress_.step, lr, last_loss_,
                  regression() ? rmse_of(last_loss_) : window_.accuracy(), test_loss, test_acc, images_per_second(),
                  seconds_since(t_start), test_r2);
    save();
  }

  // Rank 0 writes (every rank holds the same parameters and solver state).
  void save() {
    if (!options_.checkpoints || !rank_zero()) return;
    const data::Position next = loader_.position();
    progress_.epoch = next.epoch;
    progress_.batch = next.batch;
    save_checkpoint(checkpoint_path_, built_.net, *solver_, progress_, scaler_ ? &scaler_->state_tensor() : nullptr);
    result_.checkpoint = checkpoint_path_;
    saved_at_step_ = progress_.step;
  }

  const RunConfig& config_;
  const TrainOptions& options_;
  dist::Communicator& comm_;  // the other ranks of a data-parallel run (size 1: a single process)
  const QuietUnlessRankZero quiet_;
  const TrainSettings settings_;
  const Device device_;
  BuiltNet built_;
  const int64_t eval_batch_;
  const DataSplits data_;
  data::DataLoader loader_;
  const int64_t steps_per_epoch_, total_steps_;
  const LrSchedule schedule_;
  const std::string out_dir_, checkpoint_path_;
  std::optional<Solver> solver_;    // built once the net has its parameters
  std::optional<GradientClipper> clipper_;  // [train] clip_grad_norm > 0 (not fp16: the scaler clips)
  std::optional<LossScaler> scaler_;        // [train] precision = "fp16"
  std::optional<dist::GradientBuckets> buckets_;  // more than one rank
  int64_t steps_run_ = 0;                         // by this process (not counting resumed ones)
  double local_window_labels_ = 0, local_epoch_labels_ = 0;  // this rank's; window_/epoch_ hold all ranks'

  double logged_loss_scale_ = 0;            // the scale the last log line reported
  int64_t logged_skipped_ = 0;
  StepStats stats_{device_};        // loss and accuracy sums on the net's device
  int64_t saved_at_step_ = -1;      // of the last checkpoint this run wrote
  std::optional<Metrics> metrics_;  // opened (appended to when resuming) once resuming succeeded
  TrainProgress progress_;
  TrainResult result_;
  double train_seconds_ = 0;  // forward, backward and update; no evaluation
  int64_t images_ = 0;
  double last_loss_ = 0;
  RunningSums window_, epoch_, shown_;  // shown_: the last window read (the progress bar)
  bool warned_unrelated_state_ = false;
};

}  // namespace

TrainResult train(const RunConfig& config, const TrainOptions& options, const NetBuilder& build) {
  return TrainingRun(config, options, build).run();
}

EvalResult evaluate_checkpoint(const RunConfig& config, const std::string& weights, const std::string& device_name,
                               const NetBuilder& build, int64_t keep_samples) {
  const Device device = dist::rank_device(device_name, dist::world());
  BuiltNet built = build(config, device);
  const int64_t batch = config.train.eval_batch > 0 ? config.train.eval_batch : config.train.batch;
  const DataSplits data = make_datasets(config, config.train.batch, batch);
  check_loss_fits_task(config, built, *data.train);
  setup_naming_the_line(config, built.net, input_shapes(config, *data.train, batch));
  check_logits_cover_classes(config, built, *data.train);
  load_weights(weights, built.net);
  return evaluate(built, data.test ? *data.test : *data.train, batch, data.workers, dist::world(), keep_samples);
}

}  // namespace kiln
