// The TOML run config and its [[layer]] specs: parse_config (core/config) on arbitrary text.
#include <string>

#include "core/config/config.h"
#include "core/config/layer_spec.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::RunConfig config = kiln::parse_config(text, "fuzz.toml");
    // The specs as the registry and messages see them.
    size_t chars = 0;
    for (const kiln::LayerSpec& spec : config.layers) {
      for (const auto& [key, value] : spec.params) chars += key.size() + kiln::value_str(value).size();
    }
    // Typed reads of the [data] table, as the data sources do.
    kiln::TableReader reader(config.data);
    for (const auto& [key, value] : config.data.values) {
      chars += reader.where(key).size();
      try {
        chars += reader.numbers(key).size();
      } catch (const kiln::Error&) {
      }
      try {
        chars += static_cast<size_t>(reader.integer(key, 0, -1000, 1000) & 1);
      } catch (const kiln::Error&) {
      }
      try {
        chars += reader.number(key, 0.0) > 0 ? 1 : 0;
      } catch (const kiln::Error&) {
      }
    }
    if (chars == 1) std::abort();  // keeps the work observable
  });
  return 0;
}
