#include "tools/train/checkpoint.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <charconv>
#include <limits>
#include <set>
#include <stdexcept>

#include "core/error.h"
#include "core/safetensors.h"

namespace kiln {
namespace {

constexpr const char* kFormat = "kiln-checkpoint";
constexpr const char* kVersion = "1";

struct Target {
  std::string name;
  Tensor* tensor;
};

// Checks that `file` has exactly the tensors of `targets` (plus those `ignore` accepts) with the
// same shapes. Lists every problem at once.
template <class Ignore>
void check_fit(const std::string& path, const SafetensorsFile& file, const std::vector<Target>& targets,
               Ignore ignore) {
  std::vector<std::string> problems;
  std::set<std::string> wanted;
  for (const Target& t : targets) {
    wanted.insert(t.name);
    auto it = file.tensors.find(t.name);
    if (it == file.tensors.end()) {
      problems.push_back(fmt::format("missing '{}'", t.name));
    } else if (!(it->second.shape == t.tensor->shape())) {
      problems.push_back(fmt::format("'{}' has shape {}, the model needs {}", t.name, it->second.shape.str(),
                                     t.tensor->shape().str()));
    }
  }
  for (const auto& [name, entry] : file.tensors) {
    if (!wanted.count(name) && !ignore(name)) problems.push_back(fmt::format("unexpected '{}'", name));
  }
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 6);
    fail(fmt::format("'{}' does not fit this model: {}{}", path,
                     fmt::join(problems.begin(), problems.begin() + static_cast<long>(shown), "; "),
                     problems.size() > shown ? fmt::format("; and {} more", problems.size() - shown) : ""));
  }
}

// Copies the (checked) tensors of `file` into `targets`.
void copy_in(const SafetensorsFile& file, const std::vector<Target>& targets) {
  for (const Target& t : targets) {
    const auto& values = file.tensors.at(t.name).values;
    copy_bytes(t.tensor->raw_data(), t.tensor->device(), values.data(), Device::cpu(), values.size() * 4);
  }
}

constexpr const char* kStatePrefix = "state.";
constexpr const char* kOptimizerPrefix = "optimizer.";

constexpr const char* kLossScaler = "train.loss_scaler";

bool is_state(const std::string& name) { return name.starts_with(kStatePrefix); }

// The carried-state tensors of a checkpoint, named as Net::set_carried_state takes them.
std::map<std::string, Tensor> carried_state_of(const SafetensorsFile& file) {
  std::map<std::string, Tensor> out;
  const size_t prefix = std::char_traits<char>::length(kStatePrefix);
  for (const auto& [name, entry] : file.tensors)
    if (is_state(name)) out[name.substr(prefix)] = Tensor::from_host(entry.values, entry.shape);
  return out;
}

// Forgets the net's carried state, then puts the checkpoint's in; a state the net cannot take
// (a layer that does not exist or carries no such state) leaves it at zeros and names the file.
void restore_carried_state(const std::string& path, const SafetensorsFile& file, Net& net) {
  net.reset_state();
  try {
    net.set_carried_state(carried_state_of(file));
  } catch (const Error& e) {
    net.reset_state();
    fail(fmt::format("'{}' does not fit this model: {}", path, e.message()));
  }
}

// The model's tensors: parameters and buffers (BatchNorm's running statistics).
std::vector<Target> parameter_targets(Net& net) {
  std::vector<Target> out;
  for (const Net::ParamRef& p : net.parameters()) out.push_back({p.name, &p.param->value});
  for (const Net::BufferRef& b : net.buffers()) out.push_back({b.name, b.value});
  return out;
}

uint64_t parse_u64(const std::map<std::string, std::string>& meta, const char* key, const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end()) fail(fmt::format("'{}' is not a complete kiln checkpoint: no '{}' in its metadata", path, key));
  try {
    size_t used = 0;
    // stoull would take "-4" as 2^64 - 4: only digits (and a 0x prefix) are numbers here.
    if (it->second.empty() || !std::isxdigit(static_cast<unsigned char>(it->second[0]))) throw std::invalid_argument("");
    const uint64_t v = std::stoull(it->second, &used, 0);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  fail(fmt::format("'{}': metadata '{}' = '{}' is not a number", path, key, it->second));
}

// A count of the metadata (step, epoch, batch, solver_steps): a decimal integer from 0 to 2^63 - 1.
int64_t parse_count(const std::map<std::string, std::string>& meta, const char* key, const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end()) fail(fmt::format("'{}' is not a complete kiln checkpoint: no '{}' in its metadata", path, key));
  const std::string& text = it->second;
  int64_t v = 0;
  const auto [at, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || at != text.data() + text.size() || v < 0) {
    fail(fmt::format("'{}': metadata '{}' = '{}' is not a count from 0 to {} (a damaged or hand-edited checkpoint)",
                     path, key, text, std::numeric_limits<int64_t>::max()));
  }
  return v;
}

std::string vocabulary_json(const data::Dataset::TokenVocabulary& v) {
  nlohmann::json j{{"kind", v.kind}, {"tokens", v.tokens}};
  if (v.kind == "pairs") {
    j["tokenizer"] = v.tokenizer;
    if (!v.source_tokens.empty()) j["source_tokens"] = v.source_tokens;
  }
  return j.dump();
}

// The "vocabulary" metadata (empty when absent); `path` names the file in errors.
data::Dataset::TokenVocabulary parse_vocabulary(const std::map<std::string, std::string>& meta,
                                                const std::string& path) {
  auto it = meta.find("vocabulary");
  if (it == meta.end()) return {};
  data::Dataset::TokenVocabulary v;
  try {
    const nlohmann::json j = nlohmann::json::parse(it->second);
    v.kind = j.at("kind").get<std::string>();
    v.tokens = j.at("tokens").get<std::vector<std::string>>();
    if (v.kind == "pairs") {
      v.tokenizer = j.at("tokenizer").get<std::string>();
      if (j.contains("source_tokens")) v.source_tokens = j.at("source_tokens").get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception&) {
    fail(fmt::format("'{}': metadata 'vocabulary' is not JSON {{\"kind\": \"characters\" | \"words\" | \"pairs\", "
                     "\"tokens\": [strings]}}", path));
  }
  if (v.kind != "characters" && v.kind != "words" && v.kind != "pairs")
    fail(fmt::format("'{}': metadata 'vocabulary' has kind \"{}\", not \"characters\", \"words\" or \"pairs\"", path,
                     v.kind));
  if (v.kind == "pairs" && v.tokenizer != "characters" && v.tokenizer != "words")
    fail(fmt::format("'{}': metadata 'vocabulary' has tokenizer \"{}\", not \"characters\" or \"words\"", path,
                     v.tokenizer));
  if (v.tokens.empty()) fail(fmt::format("'{}': metadata 'vocabulary' has no tokens", path));
  return v;
}

}  // namespace

void save_checkpoint(const std::string& path, Net& net, Solver& solver, const TrainProgress& progress,
                     Tensor* loss_scaler) {
  std::vector<NamedTensor> tensors;
  if (loss_scaler) tensors.push_back({kLossScaler, loss_scaler});
  for (const Net::ParamRef& p : net.parameters()) tensors.push_back({p.name, &p.param->value});
  for (const Net::BufferRef& b : net.buffers()) tensors.push_back({b.name, b.value});
  for (const Solver::StateRef& s : solver.state()) tensors.push_back({kOptimizerPrefix + s.name, s.tensor});
  for (const auto& [name, t] : net.carried_state())
    if (t != nullptr && t->defined()) tensors.push_back({kStatePrefix + name, t});
  nlohmann::json rng = net.rng_state();
  std::map<std::string, std::string> meta = {
      {"format", kFormat},
      {"version", kVersion},
      {"model_hash", fmt::format("{:#018x}", progress.model_hash)},
      {"step", std::to_string(progress.step)},
      {"solver_steps", std::to_string(solver.steps())},
      {"epoch", std::to_string(progress.epoch)},
      {"batch", std::to_string(progress.batch)},
      {"seed", std::to_string(progress.seed)},
      {"rng", rng.dump()},
      {"precision", precision_name(net.precision())},
  };
  if (!progress.vocabulary.tokens.empty()) meta["vocabulary"] = vocabulary_json(progress.vocabulary);
  write_safetensors(path, tensors, meta);
}

TrainProgress load_checkpoint(const std::string& path, Net& net, Solver& solver, uint64_t model_hash,
                              Tensor* loss_scaler) {
  const SafetensorsFile file = read_safetensors(path);
  const auto& meta = file.metadata;
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kFormat) {
    fail(fmt::format("'{}' is not a kiln checkpoint (no format = {} in its metadata); to start from its "
                     "parameters use --weights", path, kFormat));
  }
  if (meta.count("version") == 0 || meta.at("version") != kVersion) {
    fail(fmt::format("'{}' is a kiln checkpoint of version {}, this kiln reads version {}", path,
                     meta.count("version") ? meta.at("version") : "?", kVersion));
  }
  TrainProgress p;
  p.model_hash = parse_u64(meta, "model_hash", path);
  if (p.model_hash != model_hash) {
    fail(fmt::format("'{}' was written for another model (model hash {:#018x}, this config's is {:#018x}): "
                     "resume with the config that wrote it, or use --weights to load matching parameters only",
                     path, p.model_hash, model_hash));
  }
  p.step = parse_count(meta, "step", path);
  p.epoch = parse_count(meta, "epoch", path);
  p.batch = parse_count(meta, "batch", path);
  p.seed = parse_u64(meta, "seed", path);
  const int64_t solver_steps = parse_count(meta, "solver_steps", path);
  std::map<std::string, uint64_t> rng;
  try {
    rng = nlohmann::json::parse(meta.count("rng") ? meta.at("rng") : "{}").get<std::map<std::string, uint64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("'{}': metadata 'rng' is not a JSON object of numbers (a damaged or hand-edited checkpoint); "
                     "the JSON parser says: {}", path, e.what()));
  }
  p.vocabulary = parse_vocabulary(meta, path);
  std::vector<Target> targets = parameter_targets(net);
  for (const Solver::StateRef& s : solver.state()) targets.push_back({kOptimizerPrefix + s.name, s.tensor});
  if (loss_scaler && file.tensors.contains(kLossScaler)) targets.push_back({kLossScaler, loss_scaler});
  check_fit(path, file, targets, [](const std::string& name) { return is_state(name) || name == kLossScaler; });
  restore_carried_state(path, file, net);
  copy_in(file, targets);
  solver.set_steps(solver_steps);
  try {
    net.set_rng_state(rng);
  } catch (const Error& e) {
    fail(fmt::format("'{}': metadata 'rng' does not fit this model: {}", path, e.message()));
  }
  return p;
}

void load_weights(const std::string& path, Net& net) {
  const SafetensorsFile file = read_safetensors(path);
  const std::vector<Target> targets = parameter_targets(net);
  check_fit(path, file, targets,
            [](const std::string& name) { return name.starts_with(kOptimizerPrefix) || is_state(name); });
  copy_in(file, targets);
}

data::Dataset::TokenVocabulary read_checkpoint_vocabulary(const std::string& path) {
  return parse_vocabulary(read_safetensors(path).metadata, path);
}

}  // namespace kiln
