// `kiln train CONFIG` and `kiln eval CONFIG --weights FILE`.
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/config/config.h"
#include "tools/train/trainer.h"
#include "tools/commands.h"
#include "tools/dist/launch.h"
#include "tools/model_builder.h"
#include "tools/reconstruction_grid.h"
#include "tools/train/data_sources.h"

namespace kiln::cli {
namespace {

struct TrainArgs {
  std::string config;
  TrainOptions options;
  int64_t epochs = 0, steps = 0, batch = 0;
  int64_t seed = -1;
  std::string precision;
  bool no_plot = false;
};

int run_train(const TrainArgs& a) {
  const RunConfig config = load_config(a.config);
  TrainOptions o = a.options;
  if (a.epochs > 0) o.epochs = a.epochs;
  if (a.steps > 0) o.steps = a.steps;
  if (a.batch > 0) o.batch = a.batch;
  if (a.seed >= 0) o.seed = static_cast<uint64_t>(a.seed);
  if (!a.precision.empty()) o.precision = a.precision;
  o.progress_bar = isatty(STDERR_FILENO) != 0;
  o.plot = !a.no_plot;
  const TrainResult r = train(config, o, build_model);
  if (dist::world().rank() != 0) return r.interrupted ? 130 : 0;  // rank 0 speaks for a data-parallel run
  std::string test = r.test_accuracy
                         ? fmt::format("test accuracy {:.2f}% (test loss {:.4f})", 100 * *r.test_accuracy, *r.test_loss)
                         : std::string("no test set");
  if (r.regression && r.test_rmse) {
    test = fmt::format("test RMSE {:.4f}, R² {:.4f} (test loss {:.4f})", *r.test_rmse, *r.test_r2, *r.test_loss);
  }
  if (r.language_model && r.test_loss) {
    test = fmt::format("validation loss {:.4f}, perplexity {:.2f}, next-token accuracy {:.2f}%", *r.test_loss,
                       std::exp(*r.test_loss), 100 * *r.test_accuracy);
  }
  fmt::print("{}{}: {} after {} steps in {:.1f} s, {:.0f} {}/s; checkpoint {}\n",
             r.interrupted ? "interrupted: " : "", config.name, test, r.steps, r.seconds, r.images_per_second,
             r.regression ? "samples" : "images", r.checkpoint.empty() ? "none" : r.checkpoint);
  return r.interrupted ? 130 : 0;
}

struct EvalArgs {
  std::string config, weights, device = "auto";
  bool json = false;
  std::string reconstructions;  // a PNG of originals above reconstructions (autoencoders)
  int64_t count = 16;
};

// --reconstructions needs an autoencoder on images; said before the evaluation runs.
void check_reconstructions_fit(const RunConfig& config) {
  const TableReader d(config.data);
  if (d.string("target", "label") != "input") {
    fail(fmt::format("{}: --reconstructions needs an autoencoder ([data] target = \"input\")", config.path));
  }
  if (config.input.size() != 3 || (config.input[0] != 1 && config.input[0] != 3)) {
    fail(fmt::format("{}: --reconstructions draws images of 1 or 3 channels, but the data (source = \"{}\") has "
                     "samples of shape {} (use --json for the metrics)", config.path, d.string("source", "?"),
                     Shape(config.input.begin(), config.input.end()).str()));
  }
}

int run_eval(const EvalArgs& a) {
  const RunConfig config = load_config(a.config);
  if (!a.reconstructions.empty()) check_reconstructions_fit(config);
  const EvalResult r =
      evaluate_checkpoint(config, a.weights, a.device, build_model, a.reconstructions.empty() ? 0 : a.count);
  if (dist::world().rank() != 0) return 0;
  if (a.json && r.regression) {
    fmt::print("{{\"loss\": {:.6f}, \"rmse\": {:.6f}, \"r2\": {:.6f}, \"samples\": {}}}\n", r.loss, r.rmse, r.r2,
               r.samples);
  } else if (a.json) {
    fmt::print("{{\"loss\": {:.6f}, \"accuracy\": {:.6f}, \"samples\": {}{}}}\n", r.loss, r.accuracy, r.samples,
               r.language_model ? fmt::format(", \"perplexity\": {:.6f}", std::exp(r.loss)) : "");
  } else if (r.regression) {
    fmt::print("{}: loss {:.4f}, RMSE {:.4f}, R² {:.4f} on {} samples\n", config.name, r.loss, r.rmse, r.r2, r.samples);
  } else if (r.language_model) {
    fmt::print("{}: loss {:.4f} per token (perplexity {:.2f}), next-token accuracy {:.2f}% on {} sequences\n",
               config.name, r.loss, std::exp(r.loss), 100 * r.accuracy, r.samples);
  } else {
    fmt::print("{}: loss {:.4f}, accuracy {:.2f}% on {} samples\n", config.name, r.loss, 100 * r.accuracy, r.samples);
  }
  if (!a.reconstructions.empty()) {  // after the figures: --json output comes first
    std::fflush(stdout);
    write_png(a.reconstructions, reconstruction_grid(r.kept_targets, r.kept_predictions,
                                                     Shape(config.input.begin(), config.input.end())));
    fmt::print(stderr, "{}: {} originals above their reconstructions\n", a.reconstructions, r.kept_targets.dim(0));
  }
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Action* action) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train the model of a config file");
  cmd->add_option("config", args->config, "Model and training config (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--device", args->options.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "Epochs (overrides [train] epochs)")->check(integer_in(1, kMaxIntFlag));
  cmd->add_option("--steps", args->steps, "Stop after this many steps")
      ->check(integer_in(1, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--batch", args->batch, "Batch size (overrides [train] batch)")->check(integer_in(1, kMaxIntFlag));
  cmd->add_option("--seed", args->seed, "Random seed (overrides [train] seed)")
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--precision", args->precision,
                  "fp32, tf32, bf16 or fp16 (overrides [train] precision; bf16/fp16: mixed precision)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16", "fp16"}));
  cmd->add_option("--out", args->options.out_dir, "Output folder (default out/<model name>)");
  cmd->add_option("--resume", args->options.resume, "Continue from this checkpoint")->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->options.weights, "Start from these parameters (safetensors)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--no-plot", args->no_plot, "Do not draw DIR/metrics.png at the end");
  cmd->callback([action, args] { *action = [args] { return run_train(*args); }; });
}

void add_eval_command(CLI::App& app, Action* action) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Loss and accuracy of trained weights on the test set");
  cmd->add_option("config", args->config, "Model config (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->weights, "Parameters (a kiln checkpoint or safetensors)")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->add_option("--reconstructions", args->reconstructions,
                   "Autoencoders: write a PNG of test images (top row) above the model's reconstructions");
  cmd->add_option("--count", args->count, "Images in the --reconstructions PNG")
      ->check(integer_in(1, 1024))->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return run_eval(*args); }; });
}

}  // namespace kiln::cli
