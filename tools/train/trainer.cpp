#include "tools/train/trainer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/allocator.h"
#include "core/data/loader.h"
#include "core/error.h"
#include "core/log.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_sources.h"
#include "tools/train/device_ops.h"
#include "tools/train/schedule.h"
#include "tools/train/solver.h"

namespace kiln {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Installs the Ctrl-C handler for the lifetime of a training run.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~InterruptGuard() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int);
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

// A batch's tensors on the net's device (a view of the host batch on the CPU). Sequence labels
// (N, T) are fed flat, (N*T), the rows of the TimeFlatten-ed logits.
struct Feeds {
  Tensor x, y;
  Feeds(const data::Batch& b, Device device) {
    Tensor labels = b.labels.reshape(Shape{b.labels.numel()});
    if (device.is_cpu()) {
      x = b.x.view();
      y = std::move(labels);
    } else {
      x = b.x.to(device);
      y = labels.to(device);
    }
  }
  std::map<std::string, const Tensor*> map() const { return {{"data", &x}, {"label", &y}}; }
};

// Labels that count in the loss and the accuracy: all but the ignored ones (padding of sequences).
int64_t counted_labels(const Tensor& host_labels) {
  const int32_t* y = host_labels.data<int32_t>();
  return std::count_if(y, y + host_labels.numel(), [](int32_t label) { return label != data::kIgnoreLabel; });
}

// Loss and accuracy over `dataset` in batches of `batch` (stream data: of its streams). Stateful
// layers start from zeros and get the state carried between training batches back afterwards, so
// evaluation neither sees nor disturbs it.
EvalResult evaluate(BuiltNet& built, const data::Dataset& dataset, int64_t batch, int workers) {
  data::LoaderOptions lo;
  lo.batch_size = dataset.streams() > 0 ? dataset.streams() : batch;
  lo.shuffle = false;
  lo.train = false;
  lo.workers = workers;
  lo.prefetch = 2;
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
  double loss_sum = 0;
  int64_t correct = 0, labels = 0;
  for (int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    const data::Batch b = loader.next();
    const Feeds feeds(b, net.device());
    net.forward(feeds.map());
    const int64_t counted = counted_labels(b.labels);
    loss_sum += static_cast<double>(net.output(built.loss).to_host()[0]) * counted;  // the loss is a mean over them
    correct += train_ops::count_correct(net.output(built.logits), feeds.y, net.stream());
    labels += counted;
    r.samples += b.size();
  }
  net.set_training(was_training);
  net.reset_state();
  net.set_carried_state(std::move(carried));
  if (labels > 0) {  // per label: per image, or per token of a sequence (padding excluded)
    r.loss = loss_sum / labels;
    r.accuracy = static_cast<double>(correct) / labels;
  }
  return r;
}

class Metrics {
 public:
  Metrics(const std::string& path, bool append) : out_(path, append ? std::ios::app : std::ios::trunc) {
    if (!out_) fail(fmt::format("cannot write metrics file '{}'", path));
    if (!append) out_ << "kind,epoch,step,lr,train_loss,train_accuracy,test_loss,test_accuracy,images_per_second,seconds\n";
  }
  void row(const char* kind, int64_t epoch, int64_t step, double lr, double loss, double acc,
           std::optional<double> test_loss, std::optional<double> test_acc, double ips, double seconds) {
    out_ << fmt::format("{},{},{},{:.6g},{:.6f},{:.6f},{},{},{:.1f},{:.2f}\n", kind, epoch, step, lr, loss, acc,
                        test_loss ? fmt::format("{:.6f}", *test_loss) : "", test_acc ? fmt::format("{:.6f}", *test_acc) : "",
                        ips, seconds);
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// Quotes a path for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The net inputs' shapes for a batch of `batch` samples of `dataset` (labels (N*L) for L labels
// per sample).
std::map<std::string, Shape> input_shapes(const RunConfig& config, const data::Dataset& dataset, int64_t batch) {
  Shape x_shape{batch};
  for (int64_t d : config.input) x_shape.push_back(d);
  return {{"data", x_shape}, {"label", Shape{batch * dataset.labels_per_sample()}}};
}

// The logits must have a column for every class of the data: a label past the last column is an
// error on the CPU but only a NaN loss on the GPU, which would read as divergence.
void check_logits_cover_classes(const RunConfig& config, const BuiltNet& built, const data::Dataset& dataset) {
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

TrainResult train(const RunConfig& config, const TrainOptions& options, const NetBuilder& build) {
  TrainSettings settings = config.train;
  if (options.epochs) settings.epochs = *options.epochs;
  if (options.batch) settings.batch = *options.batch;
  if (options.seed) settings.seed = *options.seed;
  KILN_CHECK(settings.epochs >= 1 && settings.batch >= 1, "--epochs and --batch must be >= 1");
  KILN_CHECK(!options.steps || *options.steps >= 1, "--steps must be >= 1");

  const Device device = select_device(options.device);
  // The model first: a mistake in [[layer]] is reported before any data file is opened.
  BuiltNet built = build(config, device);
  const int64_t eval_batch = settings.eval_batch > 0 ? settings.eval_batch : settings.batch;
  const DataSplits data = make_datasets(config, settings.batch, eval_batch);
  KILN_CHECK(data.train->task() == data::Task::Classification,
             "{}: kiln train supports classification data (labels); this data set is a regression one", config.path);

  data::LoaderOptions lo;
  lo.batch_size = settings.batch;
  lo.shuffle = settings.shuffle;
  lo.drop_last = data.train->size() > settings.batch;  // every step sees a full batch
  lo.seed = settings.seed;
  lo.workers = data.workers;
  data::DataLoader loader(data.train, lo);
  if (data.train->streams() > 0 && settings.shuffle) {
    log::info("{}: [data] streams = true: batches continue each other row by row, so they are drawn in order "
              "(no shuffling)", config.path);
  }
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  const int64_t total_steps = std::min(settings.epochs * steps_per_epoch, options.steps.value_or(INT64_MAX));

  Net& net = built.net;
  net.setup(input_shapes(config, *data.train, settings.batch));
  check_logits_cover_classes(config, built, *data.train);
  net.init_parameters(settings.seed);
  if (!options.weights.empty()) load_weights(options.weights, net);
  Solver solver(config.solver, net);
  // The schedule spans the planned epochs, not --steps: --steps only stops the run early, so a run
  // stopped at step k and resumed follows the same learning-rate curve as the uninterrupted one.
  const LrSchedule schedule(config.schedule, config.solver.lr, steps_per_epoch, settings.epochs * steps_per_epoch);

  const std::string out_dir = options.out_dir.empty() ? "out/" + (config.name.empty() ? "run" : config.name) : options.out_dir;
  std::filesystem::create_directories(out_dir);
  const std::string checkpoint_path = out_dir + "/checkpoint.safetensors";

  TrainProgress progress;
  progress.seed = settings.seed;
  progress.model_hash = config.model_hash;
  progress.vocabulary = data.train->token_vocabulary();
  if (!options.resume.empty()) {
    progress = load_checkpoint(options.resume, net, solver, config.model_hash);
    KILN_CHECK(progress.seed == settings.seed,
               "'{}' was trained with seed {}, this run has seed {}: resume with --seed {}", options.resume, progress.seed,
               settings.seed, progress.seed);
    const data::Dataset::TokenVocabulary vocabulary = data.train->token_vocabulary();
    KILN_CHECK(progress.vocabulary.tokens.empty() || progress.vocabulary.tokens == vocabulary.tokens,
               "'{}' was trained with another vocabulary ({} {}) than this run's data ({} {}): the token ids would "
               "mean other tokens", options.resume, progress.vocabulary.tokens.size(), progress.vocabulary.kind,
               vocabulary.tokens.size(), vocabulary.kind);
    progress.vocabulary = vocabulary;
    loader.seek({progress.epoch, progress.batch});
    log::info("resuming from {} at step {} (epoch {}, batch {})", options.resume, progress.step, progress.epoch + 1,
              progress.batch);
  }
  Metrics metrics(out_dir + "/metrics.csv", !options.resume.empty());

  log::info("model {}: {} parameters on {}; {} training samples ({}), batch {}, {} steps per epoch",
            config.name, net.parameter_count(), device.str(), data.train->size(), data.train->describe(),
            settings.batch, steps_per_epoch);

  InterruptGuard interrupt_guard;
  TrainResult result;
  auto save = [&] {
    if (!options.checkpoints) return;
    const data::Position next = loader.position();
    progress.epoch = next.epoch;
    progress.batch = next.batch;
    save_checkpoint(checkpoint_path, net, solver, progress);
    result.checkpoint = checkpoint_path;
  };

  const auto t_start = Clock::now();
  double train_seconds = 0;
  int64_t images = 0;
  double window_loss = 0, window_correct = 0, window_samples = 0, window_labels = 0;
  double epoch_loss = 0, epoch_samples = 0;  // the epoch's mean training loss (language models)
  double last_loss = 0;
  auto window_reset = [&] { window_loss = window_correct = window_samples = window_labels = 0; };
  // Token data (a language model): loss is per token and perplexity = exp(loss) is reported too.
  const bool language_model = data.train->input_dtype() == DType::I32;
  result.language_model = language_model;
  if (const double h = data.train->unigram_entropy(); h >= 0) {
    log::info("unigram baseline (the best loss without context): {:.4f} nats per token, perplexity {:.2f}", h,
              std::exp(h));
  }

  bool warned_unrelated_state = false;
  while (progress.step < total_steps) {
    const auto t0 = Clock::now();
    const data::Batch batch = loader.next();
    // Stateful layers start each epoch from zeros; a run resumed mid-epoch keeps the state its
    // checkpoint restored.
    if (batch.position.batch == 0) net.reset_state();
    const Feeds feeds(batch, device);
    net.zero_grad();
    net.forward(feeds.map());
    if (!warned_unrelated_state && data.train->streams() == 0 && !net.carried_state().empty()) {
      log::warn("{}: a layer is stateful (it carries its state from batch to batch) but the training samples are "
                "independent sequences, so it starts each batch from the end of unrelated text; set [data] streams "
                "= true, or drop stateful", config.path);
      warned_unrelated_state = true;
    }
    const float loss = net.output(built.loss).to_host()[0];
    if (!std::isfinite(loss)) {
      fail(fmt::format("the loss is {} at step {} (epoch {}, batch {}): training stopped. {} Lower the learning rate "
                       "(now {:.3g}) or set [train] clip_grad_norm.",
                       std::isnan(loss) ? "NaN" : (loss > 0 ? "+inf" : "-inf"), progress.step + 1, batch.position.epoch + 1,
                       batch.position.batch, result.checkpoint.empty() ? "No checkpoint was written yet."
                                                  : fmt::format("The last good checkpoint is {}.", result.checkpoint),
                       schedule.at(progress.step)));
    }
    net.backward();
    float grad_scale = 1.0f;
    if (settings.clip_grad_norm > 0) {
      const double norm = gradient_norm(net);
      if (norm > settings.clip_grad_norm) grad_scale = static_cast<float>(settings.clip_grad_norm / (norm + 1e-6));
    }
    const double lr = schedule.at(progress.step);
    solver.step(lr, grad_scale);
    ++progress.step;
    const int64_t correct = train_ops::count_correct(net.output(built.logits), feeds.y, net.stream());
    net.stream().synchronize();
    train_seconds += seconds_since(t0);
    images += batch.size();
    last_loss = loss;
    const auto counted = static_cast<double>(counted_labels(batch.labels));
    window_loss += static_cast<double>(loss) * counted;
    window_correct += static_cast<double>(correct);
    window_samples += static_cast<double>(batch.size());
    window_labels += counted;
    epoch_loss += static_cast<double>(loss) * counted;
    epoch_samples += counted;

    const double ips = images / std::max(train_seconds, 1e-9);
    const int64_t epoch = batch.position.epoch;
    const double eta = (total_steps - progress.step) * (train_seconds / std::max<int64_t>(images / settings.batch, 1));
    if (options.progress_bar) {
      const int64_t in_epoch = batch.position.batch + 1;
      const int width = 24, filled = static_cast<int>(width * in_epoch / steps_per_epoch);
      fmt::print(stderr, "\r epoch {}/{} [{}{}] {:3}% loss {:.4f} acc {:5.1f}% {:.0f} img/s ETA {}   ", epoch + 1,
                 settings.epochs, std::string(filled, '='), std::string(width - filled, ' '),
                 100 * in_epoch / steps_per_epoch, window_loss / window_labels,
                 100 * window_correct / window_labels, ips, duration_text(eta));
    }
    if (progress.step % settings.log_every == 0) {
      if (!options.progress_bar) {
        log::info("epoch {} step {}/{}: loss {:.4f}, accuracy {:.2f}%, lr {:.4g}, {:.0f} images/s, ETA {}", epoch + 1,
                  progress.step, total_steps, window_loss / window_labels, 100 * window_correct / window_labels, lr,
                  ips, duration_text(eta));
      }
      metrics.row("train", epoch + 1, progress.step, lr, window_loss / window_labels,
                  window_correct / window_labels, {}, {}, ips, seconds_since(t_start));
      window_reset();
    }
    const bool epoch_done = batch.last_in_epoch || progress.step == total_steps;
    if (epoch_done) {
      if (options.progress_bar) fmt::print(stderr, "\n");
      std::optional<double> test_loss, test_acc;
      if (language_model && epoch_samples > 0) {
        const double mean = epoch_loss / epoch_samples;
        log::info("epoch {}: train loss {:.4f}, perplexity {:.2f} (per token)", epoch + 1, mean, std::exp(mean));
      }
      epoch_loss = epoch_samples = 0;
      if (data.test && options.evaluate_each_epoch) {
        const EvalResult e = evaluate(built, *data.test, eval_batch, data.workers);
        test_loss = e.loss;
        test_acc = e.accuracy;
        result.test_loss = e.loss;
        result.test_accuracy = e.accuracy;
        if (language_model) {
          log::info("epoch {}: validation loss {:.4f}, perplexity {:.2f}, next-token accuracy {:.2f}% ({} "
                    "sequences)", epoch + 1, e.loss, std::exp(e.loss), 100 * e.accuracy, e.samples);
        } else {
          log::info("epoch {}: test loss {:.4f}, test accuracy {:.2f}% ({} samples)", epoch + 1, e.loss,
                    100 * e.accuracy, e.samples);
        }
      }
      metrics.row("epoch", epoch + 1, progress.step, lr, last_loss, window_labels ? window_correct / window_labels : 0,
                  test_loss, test_acc, ips, seconds_since(t_start));
      save();
    }
    if (g_interrupted.load()) {
      if (options.progress_bar) fmt::print(stderr, "\n");
      save();
      log::warn("interrupted at step {}: checkpoint saved to {} (continue with --resume {})", progress.step,
                checkpoint_path, checkpoint_path);
      result.interrupted = true;
      break;
    }
  }
  result.steps = progress.step;
  result.seconds = train_seconds;
  result.images_per_second = images / std::max(train_seconds, 1e-9);
  result.final_train_loss = last_loss;
  log::info("peak memory: {} activations, {} allocated on {}", format_bytes(net.peak_activation_bytes()),
            format_bytes(allocator_for(device).stats().peak), device.str());
  if (options.plot) plot_metrics(out_dir);
  return result;
}

EvalResult evaluate_checkpoint(const RunConfig& config, const std::string& weights, const std::string& device_name,
                               const NetBuilder& build) {
  const Device device = select_device(device_name);
  BuiltNet built = build(config, device);
  const int64_t batch = config.train.eval_batch > 0 ? config.train.eval_batch : config.train.batch;
  const DataSplits data = make_datasets(config, config.train.batch, batch);
  built.net.setup(input_shapes(config, *data.train, batch));
  check_logits_cover_classes(config, built, *data.train);
  load_weights(weights, built.net);
  return evaluate(built, data.test ? *data.test : *data.train, batch, data.workers);
}

}  // namespace kiln
