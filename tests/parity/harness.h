// Running one op-table case: fill its inputs, run the CPU twin and a GPU version on identical
// copies, and compare. Shared by the parity suite and the benchmarks (which validate before timing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {

// One host copy of every buffer of a case, as raw 32-bit words (f32 or i32).
struct HostBuffers {
  std::vector<std::vector<uint32_t>> words;
  Args args();  // pointers into `words`
};

// Inputs and starting values of accumulated outputs from Philox (seeded per buffer); outputs
// start as a NaN pattern so an element the op forgets to write cannot pass.
HostBuffers make_initial(const OpCase& c, uint64_t seed);
// The CPU twin on a copy of `initial`.
HostBuffers run_cpu(const OpCase& c, const HostBuffers& initial);

// A case's buffers on the device (each followed by guard words), ready to launch repeatedly.
struct DeviceBuffers {
  DeviceBuffers(const OpCase& c, const HostBuffers& initial);
  std::vector<Tensor> tensors;
  Args args;
};

struct GpuRun {
  HostBuffers result;
  std::vector<std::string> problems;  // guard overwritten, input modified
};
// A GPU version on a device copy of `initial`; every buffer is followed by guard words that must
// survive, and inputs must come back unchanged.
GpuRun run_gpu(const OpCase& c, const Version& v, const HostBuffers& initial);

struct BufferReport {
  std::string name;
  double max_abs_error = 0;
  int64_t max_error_index = -1;
  double normalised_mse = 0;  // sum (got-ref)^2 / sum ref^2
  int64_t first_mismatch = -1;
  int64_t mismatches = 0;
  std::string first_mismatch_text;  // "index 17: got 0.25 expected 0.125 (allowed 1e-6)"
};
struct Comparison {
  bool ok = true;
  std::vector<BufferReport> buffers;  // the compared (output and accumulated) buffers
  std::string summary() const;
};
// Compares the outputs of `got` against `ref` (bitwise where c.exact, else within tolerance() times
// `tolerance_scale`, the version's Version::tolerance_scale).
Comparison compare(const OpCase& c, const HostBuffers& ref, const HostBuffers& got, double tolerance_scale = 1.0);

// "conv2d_forward/n2_c3.../v2_implicit_gemm" as a gtest-safe name.
std::string case_name(const OpCase& c, const std::string& version);

}  // namespace kiln::optable
