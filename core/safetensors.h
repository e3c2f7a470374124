// safetensors files (the open format PyTorch, JAX and others read directly): an 8-byte little-
// endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}},
// then the raw little-endian data. kiln reads and writes F32, BF16 and F16 tensors (BF16/F16 as the
// bits of kiln::bf16 / kiln::f16, core/half.h, which are safetensors' own).
//
// Writing is atomic: a temporary file in the same folder ("<path>.tmp.<pid>", locked while written),
// fsync, rename; a crash leaves the old file intact, and the next write to <path> removes the
// temporaries that killed writers left. Reading validates everything (sizes, offsets, overlaps,
// dtypes, JSON) before a single value is used, and names the file and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/tensor.h"

namespace kiln {

struct NamedTensor {
  std::string name;
  const Tensor* tensor;  // any device; copied to the host to be written
};

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  struct Entry {
    Shape shape;
    DType dtype = DType::F32;       // as stored: F32, BF16 or F16
    std::vector<float> values;      // every dtype, widened exactly to float
    std::vector<uint16_t> bits16;   // BF16/F16 only: the stored 16-bit patterns
  };
  std::map<std::string, Entry> tensors;
  std::map<std::string, std::string> metadata;
};

SafetensorsFile read_safetensors(const std::string& path);

}  // namespace kiln
