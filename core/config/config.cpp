#include "core/config/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/files.h"

namespace kiln {
namespace {

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

// The largest integer a config key takes unless it says otherwise: every count kiln keeps in an int
// fits, and products of two such counts fit in 64 bits.
constexpr int64_t kMaxInteger = std::numeric_limits<int32_t>::max();
constexpr double kMaxNumber = std::numeric_limits<double>::max();

// Reads one TOML table, remembering which keys were used so leftovers can be reported.
class Section {
 public:
  Section(const toml::table* table, std::string file, std::string name, int line)
      : table_(table), file_(std::move(file)), name_(std::move(name)), line_(line) {}

  bool present() const { return table_ != nullptr; }

  [[noreturn]] void fail_at(const toml::node* node, const std::string& problem) const {
    fail(fmt::format("{}:{}: [{}] {}", file_, node ? line_of(*node) : line_, name_, problem));
  }

  const toml::node* get(const std::string& key) {
    used_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }

  // A finite number >= min (> min when min_exclusive) and <= max: NaN and infinities never pass.
  double number(const std::string& key, double fallback, double min, bool min_exclusive = false,
                double max = kMaxNumber) {
    const toml::node* n = get(key);
    if (!n) return fallback;
    double v;
    if (auto i = n->value_exact<int64_t>()) v = static_cast<double>(*i);
    else if (auto d = n->value_exact<double>()) v = *d;
    else fail_at(n, fmt::format("{} must be a number, got {}", key, describe(*n)));
    if (!std::isfinite(v)) fail_at(n, fmt::format("{} must be a finite number, got {}", key, v));
    if (v < min || (min_exclusive && v == min)) {
      fail_at(n, fmt::format("{} must be a number {} {}, got {}", key, min_exclusive ? ">" : ">=", min, v));
    }
    if (v > max) fail_at(n, fmt::format("{} must be a number <= {}, got {}", key, max, v));
    return v;
  }
  // An integer in [min, max]; the default max keeps every value within an int (kiln narrows many).
  int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max = kMaxInteger) {
    const toml::node* n = get(key);
    if (!n) return fallback;
    auto i = n->value_exact<int64_t>();
    if (!i) fail_at(n, fmt::format("{} must be an integer, got {}", key, describe(*n)));
    if (*i < min || *i > max) fail_at(n, fmt::format("{} must be an integer from {} to {}, got {}", key, min, max, *i));
    return *i;
  }
  bool boolean(const std::string& key, bool fallback) {
    const toml::node* n = get(key);
    if (!n) return fallback;
    auto b = n->value_exact<bool>();
    if (!b) fail_at(n, fmt::format("{} must be true or false, got {}", key, describe(*n)));
    return *b;
  }
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) {
    const toml::node* n = get(key);
    if (!n) return fallback;
    auto s = n->value_exact<std::string>();
    if (!s || std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      fail_at(n, fmt::format("{} must be one of {}, got {}", key, fmt::join(allowed, ", "), describe(*n)));
    }
    return *s;
  }
  std::vector<int64_t> integers(const std::string& key, int64_t min, int64_t max = kMaxInteger) {
    const toml::node* n = get(key);
    if (!n) return {};
    const toml::array* a = n->as_array();
    std::vector<int64_t> out;
    if (!a) fail_at(n, fmt::format("{} must be a list of integers, got {}", key, describe(*n)));
    for (const toml::node& e : *a) {
      auto i = e.value_exact<int64_t>();
      if (!i || *i < min || *i > max) {
        fail_at(n, fmt::format("{} must be a list of integers from {} to {}, got {}", key, min, max, describe(*n)));
      }
      out.push_back(*i);
    }
    return out;
  }

  // Every key not read is a typo or a misplaced setting.
  void reject_unknown() const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      if (!used_.count(std::string(key.str()))) {
        fail_at(&node, fmt::format("unknown key '{}' (known: {})", key.str(), fmt::join(used_, ", ")));
      }
    }
  }

  static std::string describe(const toml::node& n) {
    std::ostringstream out;
    if (n.is_string()) out << '"' << *n.value<std::string>() << '"';
    else if (n.is_table()) out << "a table";
    else if (n.is_array()) out << "a list";
    else n.visit([&](auto&& v) { out << v; });
    return out.str();
  }

 private:
  const toml::table* table_;
  std::string file_, name_;
  int line_;
  std::set<std::string> used_;
};

const toml::table* table_at(const toml::table& root, const char* key, const std::string& file) {
  const toml::node* n = root.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) fail(fmt::format("{}:{}: [{}] must be a table", file, line_of(*n), key));
  return n->as_table();
}

// A [[layer]] table as a LayerSpec: type, name, inputs, and every other key as a parameter.
LayerSpec layer_spec(const toml::table& t, size_t index, const std::string& file) {
  LayerSpec spec;
  const int line = line_of(t);
  auto where = [&](const toml::node& n) { return fmt::format("{}:{}: [[layer]] #{}", file, line_of(n), index + 1); };
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    if (key == "type" || key == "name") {
      auto s = node.value_exact<std::string>();
      if (!s || s->empty()) fail(fmt::format("{}: {} must be a non-empty string", where(node), key));
      (key == "type" ? spec.type : spec.name) = *s;
    } else if (key == "inputs") {
      const toml::array* a = node.as_array();
      if (!a) fail(fmt::format("{}: inputs must be a list of layer names", where(node)));
      for (const toml::node& e : *a) {
        auto s = e.value_exact<std::string>();
        if (!s) fail(fmt::format("{}: inputs must be a list of layer names", where(node)));
        spec.inputs.push_back(*s);
      }
    } else if (auto i = node.value_exact<int64_t>()) {
      spec.params[key] = *i;
    } else if (auto d = node.value_exact<double>()) {
      if (!std::isfinite(*d)) fail(fmt::format("{}: {} must be a finite number, got {}", where(node), key, *d));
      spec.params[key] = *d;
    } else if (auto b = node.value_exact<bool>()) {
      spec.params[key] = *b;
    } else if (auto s = node.value_exact<std::string>()) {
      spec.params[key] = *s;
    } else if (const toml::array* a = node.as_array()) {
      std::vector<int64_t> ints;
      for (const toml::node& e : *a) {
        auto v = e.value_exact<int64_t>();
        if (!v) fail(fmt::format("{}: {} must be a list of integers", where(node), key));
        ints.push_back(*v);
      }
      spec.params[key] = ints;
    } else {
      fail(fmt::format("{}: {} has an unsupported value (use a number, string, bool or list of integers)", where(node), key));
    }
  }
  if (spec.type.empty()) fail(fmt::format("{}:{}: [[layer]] #{} has no type", file, line, index + 1));
  if (spec.name.empty()) spec.name = fmt::format("{}{}", spec.type, index + 1);
  return spec;
}

ConfigTable config_table(const toml::table* t, const std::string& file, const std::string& section) {
  ConfigTable out;
  out.file = file;
  out.section = section;
  if (!t) return out;
  for (const auto& [k, node] : *t) {
    const std::string key(k.str());
    out.lines[key] = line_of(node);
    if (auto i = node.value_exact<int64_t>()) out.values[key] = *i;
    else if (auto d = node.value_exact<double>()) out.values[key] = *d;
    else if (auto b = node.value_exact<bool>()) out.values[key] = *b;
    else if (auto s = node.value_exact<std::string>()) out.values[key] = *s;
    else if (const toml::array* a = node.as_array()) {
      if (a->empty() || a->front().is_number()) {
        std::vector<double> v;
        for (const toml::node& e : *a) {
          auto d = e.value<double>();
          if (!d) fail(fmt::format("{}:{}: [{}] {} must be a list of numbers or of strings", file, line_of(node), section, key));
          v.push_back(*d);
        }
        out.values[key] = v;
      } else {
        std::vector<std::string> v;
        for (const toml::node& e : *a) {
          auto s = e.value_exact<std::string>();
          if (!s) fail(fmt::format("{}:{}: [{}] {} must be a list of numbers or of strings", file, line_of(node), section, key));
          v.push_back(*s);
        }
        out.values[key] = v;
      }
    } else {
      fail(fmt::format("{}:{}: [{}] {}: nested tables are not supported here", file, line_of(node), section, key));
    }
  }
  return out;
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

namespace {

// [model] and the [[layer]] tables.
void read_model(const toml::table& root, const std::string& path, RunConfig& cfg) {
  Section model(table_at(root, "model", path), path, "model", 1);
  if (!model.present()) fail(fmt::format("{}: missing [model] section (name, input = [C, H, W], classes)", path));
  if (const toml::node* n = model.get("name")) cfg.name = n->value_or<std::string>("");
  cfg.input = model.integers("input", 1);
  if (cfg.input.empty() || cfg.input.size() > 4) {
    model.fail_at(model.get("input"), "input must be the sample shape, e.g. [1, 28, 28] or [784]");
  }
  int64_t sample_size = 1;
  for (int64_t d : cfg.input) sample_size *= d;  // each d <= 2^31 - 1 and at most 4 of them: no overflow
  if (sample_size > kMaxInteger) {
    model.fail_at(model.get("input"), fmt::format("input = [{}] has {} values per sample, more than {}",
                                                  fmt::join(cfg.input, ", "), sample_size, kMaxInteger));
  }
  cfg.classes = model.integer("classes", 0, 0);
  model.reject_unknown();

  const toml::node* layers = root.get("layer");
  if (!layers || !layers->is_array_of_tables()) fail(fmt::format("{}: no [[layer]] tables: the model has no layers", path));
  size_t index = 0;
  for (const toml::node& n : *layers->as_array()) {
    cfg.layers.push_back(layer_spec(*n.as_table(), index++, path));
    cfg.layer_lines.push_back(line_of(n));
  }
}

SolverConfig read_solver(const toml::table& root, const std::string& path) {
  Section solver(table_at(root, "solver", path), path, "solver", 1);
  SolverConfig s;
  s.type = solver.choice("type", "sgd", {"sgd", "adam", "adamw"});
  s.lr = solver.number("lr", s.lr, 0.0, true);
  s.momentum = solver.number("momentum", s.momentum, 0.0);
  s.dampening = solver.number("dampening", s.dampening, 0.0);
  s.nesterov = solver.boolean("nesterov", s.nesterov);
  s.weight_decay = solver.number("weight_decay", s.weight_decay, 0.0);
  s.beta1 = solver.number("beta1", s.beta1, 0.0);
  s.beta2 = solver.number("beta2", s.beta2, 0.0);
  s.eps = solver.number("eps", s.eps, 0.0, true);
  if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
    solver.fail_at(solver.get("nesterov"), "nesterov needs momentum > 0 and dampening = 0");
  }
  if (s.beta1 >= 1 || s.beta2 >= 1) solver.fail_at(solver.get("beta1"), "beta1 and beta2 must be < 1");
  solver.reject_unknown();
  return s;
}

ScheduleConfig read_schedule(const toml::table& root, const std::string& path) {
  Section schedule(table_at(root, "schedule", path), path, "schedule", 1);
  ScheduleConfig sc;
  sc.type = schedule.choice("type", "constant", {"constant", "step", "multistep", "cosine"});
  sc.warmup_steps = schedule.integer("warmup_steps", 0, 0);
  sc.step_size = schedule.integer("step_size", 0, 0);
  sc.milestones = schedule.integers("milestones", 0);
  sc.gamma = schedule.number("gamma", sc.gamma, 0.0, true);
  sc.min_lr = schedule.number("min_lr", sc.min_lr, 0.0);
  if (sc.type == "step" && sc.step_size <= 0) schedule.fail_at(schedule.get("type"), "type = \"step\" needs step_size > 0");
  if (sc.type == "multistep" && sc.milestones.empty()) {
    schedule.fail_at(schedule.get("type"), "type = \"multistep\" needs milestones = [epoch, ...]");
  }
  schedule.reject_unknown();
  return sc;
}

TrainSettings read_train(const toml::table& root, const std::string& path) {
  Section train(table_at(root, "train", path), path, "train", 1);
  TrainSettings t;
  t.epochs = train.integer("epochs", t.epochs, 1);
  t.batch = train.integer("batch", t.batch, 1);
  t.seed = static_cast<uint64_t>(
      train.integer("seed", static_cast<int64_t>(t.seed), 0, std::numeric_limits<int64_t>::max()));
  t.shuffle = train.boolean("shuffle", t.shuffle);
  t.clip_grad_norm = train.number("clip_grad_norm", t.clip_grad_norm, 0.0);
  t.log_every = train.integer("log_every", t.log_every, 1);
  t.eval_batch = train.integer("eval_batch", t.eval_batch, 0);
  t.precision = train.choice("precision", t.precision, {"fp32", "tf32", "bf16", "fp16"});
  t.loss_scale = train.number("loss_scale", t.loss_scale, 1.0);
  if (t.loss_scale > 16777216.0) train.fail_at(train.get("loss_scale"), "loss_scale must be at most 2^24 = 16777216");
  t.loss_scale_growth_interval = train.integer("loss_scale_growth_interval", t.loss_scale_growth_interval, 1);
  t.bucket_mb = train.number("bucket_mb", t.bucket_mb, 0.0, /*min_exclusive=*/true, /*max=*/1024.0 * 1024.0);
  train.reject_unknown();
  return t;
}

// The model's identity for checkpoints: its layers, input and classes (not solver or data).
uint64_t model_hash(const RunConfig& cfg) {
  std::ostringstream model_text;
  model_text << fmt::format("input={} classes={}\n", fmt::join(cfg.input, ","), cfg.classes);
  for (const LayerSpec& l : cfg.layers) {
    model_text << l.type << ' ' << l.name << " <- " << fmt::format("{}", fmt::join(l.inputs, ","));
    for (const auto& [k, v] : l.params) model_text << ' ' << k << '=' << value_str(v);
    model_text << '\n';
  }
  return fnv1a(model_text.str());
}

}  // namespace

RunConfig parse_config(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    fail(fmt::format("{}:{}: not valid TOML: {}", path, e.source().begin.line, e.description()));
  }
  static const std::set<std::string> kSections = {"model", "layer", "data", "solver", "schedule", "train"};
  for (const auto& [k, node] : root) {
    if (!kSections.count(std::string(k.str()))) {
      fail(fmt::format("{}:{}: unknown section '{}' (known: data, layer, model, schedule, solver, train)", path,
                       line_of(node), k.str()));
    }
  }
  RunConfig cfg;
  cfg.path = path;
  read_model(root, path, cfg);
  cfg.data = config_table(table_at(root, "data", path), path, "data");
  cfg.solver = read_solver(root, path);
  cfg.schedule = read_schedule(root, path);
  cfg.train = read_train(root, path);
  cfg.model_hash = model_hash(cfg);
  return cfg;
}

RunConfig load_config(const std::string& path) {
  require_regular_file(path, "config file");  // a FIFO would block, a device never end
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(fmt::format("cannot open config file '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

// ---------------------------------------------------------------------------------------------

std::string TableReader::where(const std::string& key) const {
  auto it = table_.lines.find(key);
  return fmt::format("{}:{}: [{}] {}", table_.file, it == table_.lines.end() ? 1 : it->second, table_.section, key);
}

void TableReader::fail_key(const std::string& key, const std::string& problem) const {
  fail(fmt::format("{} {}", where(key), problem));
}

std::string TableReader::string(const std::string& key, const std::string& fallback) const {
  auto it = table_.values.find(key);
  if (it == table_.values.end()) return fallback;
  if (auto s = std::get_if<std::string>(&it->second)) return *s;
  fail_key(key, "must be a string");
}

std::string TableReader::required_string(const std::string& key) const {
  if (!has(key)) fail(fmt::format("{}: [{}] needs {}", table_.file, table_.section, key));
  return string(key);
}

int64_t TableReader::integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
  auto it = table_.values.find(key);
  if (it == table_.values.end()) return fallback;
  const auto i = std::get_if<int64_t>(&it->second);
  if (!i) fail_key(key, "must be an integer");
  if (*i < min || *i > max) fail_key(key, fmt::format("must be an integer from {} to {}, got {}", min, max, *i));
  return *i;
}

double TableReader::number(const std::string& key, double fallback) const {
  auto it = table_.values.find(key);
  if (it == table_.values.end()) return fallback;
  if (auto i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  if (auto d = std::get_if<double>(&it->second)) {
    if (!std::isfinite(*d)) fail_key(key, fmt::format("must be a finite number, got {}", *d));
    return *d;
  }
  fail_key(key, "must be a number");
}

bool TableReader::boolean(const std::string& key, bool fallback) const {
  auto it = table_.values.find(key);
  if (it == table_.values.end()) return fallback;
  if (auto b = std::get_if<bool>(&it->second)) return *b;
  fail_key(key, "must be true or false");
}

std::vector<double> TableReader::numbers(const std::string& key) const {
  auto it = table_.values.find(key);
  if (it == table_.values.end()) return {};
  if (auto v = std::get_if<std::vector<double>>(&it->second)) {
    for (double d : *v) {
      if (!std::isfinite(d)) fail_key(key, fmt::format("must be a list of finite numbers, got {}", d));
    }
    return *v;
  }
  if (std::holds_alternative<int64_t>(it->second) || std::holds_alternative<double>(it->second)) return {number(key, 0)};
  fail_key(key, "must be a number or a list of numbers");
}

}  // namespace kiln
