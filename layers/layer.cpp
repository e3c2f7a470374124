#include "layers/layer.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <span>

#include "layers/init.h"

namespace kiln::layers {

bool SpecReader::has(const std::string& key) const { return spec_.params.contains(key); }

const Value* SpecReader::find(const std::string& key) {
  asked_.insert(key);
  auto it = spec_.params.find(key);
  return it == spec_.params.end() ? nullptr : &it->second;
}

void SpecReader::bad(const std::string& key, const std::string& expected) const {
  auto it = spec_.params.find(key);
  const std::string got = it == spec_.params.end() ? "nothing"
                                                   : fmt::format("{} ({})", value_str(it->second), value_type_name(it->second));
  fail(fmt::format("layer '{}': '{}' must be {}, got {}", spec_.name, key, expected, got));
}

int64_t SpecReader::get_int(const std::string& key, int64_t fallback) {
  const Value* v = find(key);
  if (!v) return fallback;
  if (const auto* i = std::get_if<int64_t>(v)) return *i;
  bad(key, "an integer");
}

int64_t SpecReader::require_int(const std::string& key) {
  if (!has(key)) fail(fmt::format("layer '{}': the key '{}' is required (an integer)", spec_.name, key));
  return get_int(key, 0);
}

int SpecReader::get_positive(const std::string& key, int fallback, bool allow_zero) {
  const Value* v = find(key);
  if (!v) return fallback;
  const auto* i = std::get_if<int64_t>(v);
  if (!i || *i < (allow_zero ? 0 : 1) || *i > (1 << 30)) bad(key, allow_zero ? "a non-negative integer" : "a positive integer");
  return static_cast<int>(*i);
}

int SpecReader::require_positive(const std::string& key) {
  if (!has(key)) fail(fmt::format("layer '{}': the key '{}' is required (a positive integer)", spec_.name, key));
  return get_positive(key, 1);
}

std::pair<int, int> SpecReader::get_pair(const std::string& key, std::pair<int, int> fallback, bool allow_zero) {
  const Value* v = find(key);
  if (!v) return fallback;
  const int64_t lo = allow_zero ? 0 : 1;
  const char* what = allow_zero ? "a non-negative integer or a list of two" : "a positive integer or a list of two";
  if (const auto* i = std::get_if<int64_t>(v)) {
    if (*i < lo || *i > (1 << 30)) bad(key, what);
    return {static_cast<int>(*i), static_cast<int>(*i)};
  }
  if (const auto* l = std::get_if<std::vector<int64_t>>(v)) {
    if (l->size() != 2 || (*l)[0] < lo || (*l)[1] < lo || (*l)[0] > (1 << 30) || (*l)[1] > (1 << 30)) bad(key, what);
    return {static_cast<int>((*l)[0]), static_cast<int>((*l)[1])};
  }
  bad(key, what);
}

double SpecReader::get_double(const std::string& key, double fallback) {
  const Value* v = find(key);
  if (!v) return fallback;
  if (const auto* d = std::get_if<double>(v)) {
    if (!std::isfinite(*d)) bad(key, "a finite number");  // NaN and infinities are never a setting
    return *d;
  }
  if (const auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  bad(key, "a number");
}

bool SpecReader::get_bool(const std::string& key, bool fallback) {
  const Value* v = find(key);
  if (!v) return fallback;
  if (const auto* b = std::get_if<bool>(v)) return *b;
  bad(key, "true or false");
}

std::string SpecReader::get_string(const std::string& key, const std::string& fallback) {
  const Value* v = find(key);
  if (!v) return fallback;
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  bad(key, "a string");
}

Init SpecReader::get_init(const std::string& prefix, Init fallback) {
  Init init = fallback;
  const std::string kind_key = prefix + "_init", value_key = prefix + "_init_value";
  if (const Value* v = find(kind_key)) {
    const auto* s = std::get_if<std::string>(v);
    if (!s) bad(kind_key, "an initialisation name");
    try {
      init.kind = parse_init_kind(*s);
    } catch (const Error& e) {
      fail(fmt::format("layer '{}': '{}': {}", spec_.name, kind_key, e.message()));
    }
    init.value.reset();
  }
  if (has(value_key)) {
    const double d = get_double(value_key, 0.0);
    if (!std::isfinite(d) || (init.kind != InitKind::Constant && d < 0.0))
      bad(value_key, init.kind == InitKind::Constant ? "a finite number" : "a non-negative number (std, bound or gain)");
    init.value = d;
  }
  return init;
}

void SpecReader::finish(const char* type) {
  for (const auto& [key, value] : spec_.params) {
    if (asked_.contains(key)) continue;
    fail(fmt::format("layer '{}' ({}): unknown key '{}' (known: {})", spec_.name, type, key, fmt::join(asked_, ", ")));
  }
}

void layer_error(const Layer& layer, const std::string& message) {
  fail(fmt::format("layer '{}' ({}): {}", layer.name(), layer.type(), message));
}

void check_dtypes(const Layer& layer, const std::vector<DType>& dtypes, const std::vector<int>& int_inputs) {
  for (size_t i = 0; i < dtypes.size(); ++i) {
    const bool want_int = std::find(int_inputs.begin(), int_inputs.end(), static_cast<int>(i)) != int_inputs.end();
    const DType want = want_int ? DType::I32 : DType::F32;
    if (dtypes[i] != want)
      layer_error(layer, fmt::format("input {} must hold {}, got {}", i, dtype_name(want), dtype_name(dtypes[i])));
  }
}

void expect_one_float(const Layer& layer, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) {
  if (inputs.size() != 1) layer_error(layer, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(layer, dtypes);
}

Shape expect_prediction_and_target(const Layer& layer, const std::vector<Shape>& inputs,
                                   const std::vector<DType>& dtypes) {
  if (inputs.size() != 2) layer_error(layer, fmt::format("expects 2 inputs (prediction, target), got {}", inputs.size()));
  check_dtypes(layer, dtypes);
  if (!(inputs[0] == inputs[1]))
    layer_error(layer, fmt::format("expects prediction and target of the same shape, got {} and {}", inputs[0].str(),
                                   inputs[1].str()));
  to_int(layer, inputs[0].numel(), "element count");
  return Shape{1};
}

void make_one(Tensor& one, Device device) {
  if (one.defined() && one.device() == device) return;
  const float value = 1.0f;
  one = Tensor::from_host(std::span<const float>(&value, 1), Shape{1}, device);
}

void expect_nchw(const Layer& layer, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) {
  expect_one_float(layer, inputs, dtypes);
  const Shape& x = inputs[0];
  if (x.rank() != 4) layer_error(layer, fmt::format("expects input (N, C, H, W), got {}", x.str()));
  for (int64_t d : x)
    if (d < 1 || d > INT_MAX) layer_error(layer, fmt::format("input {} has a dimension outside [1, 2^31)", x.str()));
}

int to_int(const Layer& layer, int64_t v, const char* what) {
  if (v < 1 || v > INT_MAX) layer_error(layer, fmt::format("{}={} is outside [1, 2^31)", what, v));
  return static_cast<int>(v);
}

}  // namespace kiln::layers
