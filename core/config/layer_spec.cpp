#include "core/config/layer_spec.h"

#include <fmt/format.h>

namespace kiln {

std::string value_str(const Value& value) {
  struct Visitor {
    std::string operator()(int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(double v) const { return fmt::format("{}", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return fmt::format("\"{}\"", v); }
    std::string operator()(const std::vector<int64_t>& v) const { return fmt::format("[{}]", fmt::join(v, ", ")); }
  };
  return std::visit(Visitor{}, value);
}

const char* value_type_name(const Value& value) {
  static const char* names[] = {"int", "float", "bool", "string", "list of ints"};
  return names[value.index()];
}

}  // namespace kiln
