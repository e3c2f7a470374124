// safetensors checkpoints: read_safetensors (core/safetensors) on an arbitrary file.
#include "core/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kiln::fuzz::TempFile file("model.safetensors");
  const std::string& path = file.write(data, size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::SafetensorsFile st = kiln::read_safetensors(path);
    // Every entry must be self-consistent: as many values as the shape holds.
    for (const auto& [name, entry] : st.tensors) {
      if (static_cast<int64_t>(entry.values.size()) != entry.shape.numel()) {
        std::fprintf(stderr, "fuzz: tensor '%s' has %zu values for %lld elements\n", name.c_str(),
                     entry.values.size(), static_cast<long long>(entry.shape.numel()));
        std::abort();
      }
    }
  });
  return 0;
}
