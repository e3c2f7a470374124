// A run's configuration: the model, its data, the solver and the schedule, in one TOML file.
//
//   [model]     name, input = [C, H, W], classes
//   [[layer]]   type, name, inputs (optional), then the layer's own keys   (one table per layer)
//   [data]      source = "idx" | "cifar" | "folder" | "csv" | "synthetic", and its keys
//   [solver]    type = "sgd" | "adam" | "adamw", lr, momentum, nesterov, weight_decay, betas, eps
//   [schedule]  type = "constant" | "step" | "multistep" | "cosine", warmup_steps, ...
//   [train]     epochs, batch, seed, clip_grad_norm, log_every, eval_every, shuffle, precision,
//               loss_scale, loss_scale_growth_interval, bucket_mb
//
// Every error names the file, the line and the key and says what was expected:
//   "models/lenet.toml:14: [solver] lr must be a number > 0, got "fast"".
// Unknown keys are errors too (with the known ones listed), so typos never pass silently.
// Numbers are range-checked as they are read, in 64-bit arithmetic: NaN and infinities are refused,
// and an integer kiln keeps in an int must be at most 2^31 - 1 (nothing wraps when narrowed).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/config/layer_spec.h"

namespace kiln {

struct SolverConfig {
  std::string type = "sgd";  // sgd | adam | adamw
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

struct ScheduleConfig {
  std::string type = "constant";  // constant | step | multistep | cosine
  int64_t warmup_steps = 0;       // linear warm-up from 0 to lr
  int64_t step_size = 0;          // step: multiply by gamma every step_size epochs
  std::vector<int64_t> milestones;  // multistep: epochs at which lr *= gamma
  double gamma = 0.1;
  double min_lr = 0.0;  // cosine: the floor reached at the last step
};

struct TrainSettings {
  int64_t epochs = 1;
  int64_t batch = 64;
  uint64_t seed = 1;
  bool shuffle = true;
  double clip_grad_norm = 0.0;  // 0: off
  int64_t log_every = 50;       // steps between progress lines / metrics rows
  int64_t eval_batch = 0;       // 0: same as batch
  // The precision of products and activations (DESIGN principle 9; layers/net.h): "fp32", "tf32"
  // (operands rounded to TF32), "bf16" or "fp16" (mixed precision: 16-bit activations, FP32
  // masters and optimiser state). fp16 adds dynamic loss scaling, starting at loss_scale and
  // doubling after loss_scale_growth_interval steps without overflow.
  std::string precision = "fp32";
  double loss_scale = 65536.0;
  int64_t loss_scale_growth_interval = 2000;
  // Data-parallel runs: gradients are all-reduced in buckets of about this many MiB, each started
  // as soon as backward has produced it (tools/dist/gradient_buckets.h). 25 is PyTorch DDP's default.
  double bucket_mb = 25.0;
};

// A value of a data-like section: numbers, strings, booleans, lists of numbers or strings.
using ConfigValue = std::variant<int64_t, double, bool, std::string, std::vector<double>, std::vector<std::string>>;

// A table of the config kept as data (the [data] section), with the line of each key.
struct ConfigTable {
  std::map<std::string, ConfigValue> values;
  std::map<std::string, int> lines;
  std::string file;
  std::string section;
};

struct RunConfig {
  std::string path;
  std::string name;
  std::vector<int64_t> input;  // sample shape, e.g. (1, 28, 28)
  int64_t classes = 0;
  std::vector<LayerSpec> layers;
  std::vector<int> layer_lines;  // line of each [[layer]] table, for error messages
  ConfigTable data;
  SolverConfig solver;
  ScheduleConfig schedule;
  TrainSettings train;
  // FNV-1a of the model section (layers, input, classes): checkpoints from another model are refused.
  uint64_t model_hash = 0;
};

// Reads and checks a config file. Throws kiln::Error ("file:line: ...") on any problem.
RunConfig load_config(const std::string& path);
// The same from TOML text (`path` names it in messages).
RunConfig parse_config(const std::string& text, const std::string& path);

// Typed access to a ConfigTable with errors naming file:line and key; used by the data sources.
class TableReader {
 public:
  explicit TableReader(const ConfigTable& table) : table_(table) {}
  std::string string(const std::string& key, const std::string& fallback = {}) const;
  std::string required_string(const std::string& key) const;
  // An integer in [min, max] (64-bit; the caller narrows only after this check).
  int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) const;
  // A finite number: NaN and infinities are errors.
  double number(const std::string& key, double fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::vector<double> numbers(const std::string& key) const;  // a number or a list of numbers
  bool has(const std::string& key) const { return table_.values.count(key) != 0; }
  // "models/x.toml:12: [data] key" for messages.
  std::string where(const std::string& key) const;
  [[noreturn]] void fail_key(const std::string& key, const std::string& problem) const;

 private:
  const ConfigTable& table_;
};

}  // namespace kiln
