// The op table: one row per (op, shape) with its CPU twin, its GPU kernel versions, its buffers and
// its cost. The parity suite (tests/parity/) and the kernel benchmarks (bench/) both walk it, so a
// new kernel version is one more entry in `gpu`: tested and benchmarked with no new test code.
// (The idea follows ggml's test-backend-ops and llm.c's dev/cuda: validate, then time.)
//
// Buffers are listed in the order the launchers take them; Args hands out their pointers. Inputs
// are filled with Philox uniforms (or integer labels), outputs are compared between the CPU twin
// and every GPU version with a tolerance that grows with the accumulation length.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/stream.h"
#include "core/tensor.h"

namespace kiln::optable {

enum class Role : uint8_t {
  Input,       // filled before the call, read only
  Output,      // written by the op (=); guarded and compared
  Accumulate,  // read and updated by the op (+=, optimiser state); starts random, compared
};

struct Buffer {
  std::string name;
  int64_t numel = 0;
  Role role = Role::Input;
  // F32, I32, or BF16/F16 (packed two to a 32-bit word in the harness; filled with the uniforms
  // rounded to the format, compared after widening to float)
  DType dtype = DType::F32;
  float lo = -1.0f, hi = 1.0f;  // F32/BF16/F16 fill range
  int32_t int_range = 0;        // I32 fill: uniform integers in [0, int_range)
  // Length of the sums behind each output element: the tolerance grows with sqrt(length).
  double accumulation = 1.0;
  // Multiplies the default tolerance (see tolerance()) for ops with approximate math.
  double tolerance_scale = 1.0;
};

// Pointers to the buffers of one case, in declaration order.
struct Args {
  std::vector<void*> ptr;
  float* f(size_t i) const { return static_cast<float*>(ptr.at(i)); }
  int32_t* i32(size_t i) const { return static_cast<int32_t*>(ptr.at(i)); }
  bf16* b16(size_t i) const { return static_cast<bf16*>(ptr.at(i)); }
  f16* h16(size_t i) const { return static_cast<f16*>(ptr.at(i)); }
};

using Launcher = std::function<void(const Args&, const Stream&)>;

// What a Gradient's backward is handed besides the forward's buffers.
struct GradArgs {
  std::vector<const float*> dy;  // dy[j] = dL/d(buffer of[j])
  std::vector<float*> dx;        // dx[j]: zero-filled, as long as buffer wrt[j]; receives dL/d(it)
};

// A row's backward, for the gradient check (ggml's grad mode; tests/gradcheck/
// op_table_gradcheck_test.cpp): the objective is L = sum over the `of` buffers of r . out (r fixed
// random weights), and `backward` gives dL/d(buffer) for every buffer in `wrt` with the CPU twins of
// the backward ops. The check compares that against central finite differences of the row's own
// CPU forward (tests/common/gradcheck.h), so a forward row that names its backward checks the
// backward ops' CPU twins; the parity rows of those ops then check their GPU versions against them.
struct Gradient {
  std::vector<size_t> of{};   // the outputs L weighs (F32, written by the op)
  std::vector<size_t> wrt{};  // the inputs L is differentiated by (F32, read by the op)
  // fwd: the row's buffers after its CPU twin ran (outputs written, accumulated ones updated).
  std::function<void(const Args& fwd, const GradArgs& g, const Stream&)> backward{};
  // Optional, in the gradient check only, after OpCase::prepare: moves inputs away from kinks
  // (ReLU at 0, max ties) by more than eps.
  std::function<void(const Args& host)> prepare{};
  double eps = 1e-2;  // see tests/common/gradcheck.h (FiniteDifference)
  double atol = 1e-3;
  double rtol = 1e-3;
  int max_checks = 48;
};

struct Version {
  std::string name;  // "v1_naive", "v2_implicit_gemm", "cublas"
  Launcher run;
  // Multiplies the buffers' tolerance for this version only: for a library that bounds its rounding
  // instead of fixing it (cuBLAS's FAST compute types, kernels/gemm.h), beside kernels held to more.
  double tolerance_scale = 1.0;
};

struct OpCase {
  std::string op;     // "conv2d_forward"
  std::string shape;  // "n2_c3_h7w7_k4_r3s3_st1_pad1_g1"
  std::vector<Buffer> buffers;
  Launcher cpu;
  std::vector<Version> gpu;
  // Optional: adjusts the freshly filled host inputs (e.g. argmax from a CPU forward pass).
  std::function<void(const Args& host)> prepare;
  int64_t flops = 0;
  int64_t bytes = 0;
  bool bench = true;   // also a benchmark row (tiny edge cases are not)
  bool exact = false;  // outputs must match bit for bit (integer or purely elementwise ops)
  // Optional: the row's backward (a forward row's gradient, checked by finite differences).
  std::optional<Gradient> gradient;
};

// Which shapes a table is built with: Test (small shapes that keep the emulator quick) or Bench
// (AlexNet and convnet-benchmarks layers).
enum class Sizes { Test, Bench };

#if KILN_WITH_DEVICE
// The versions of a launcher built on grid-stride loops: "v1", and in the test sizes also
// "v1_grid2", the same launch with every grid held to 2 blocks per dimension
// (gpu::ScopedGridLimit) so each loop runs several times: a reduced-grid launch.
std::vector<Version> grid_stride_versions(Sizes sizes, Launcher run);
#endif

// Allowed error of output element i: tolerance(b) * (|ref_i| + rms(ref)), where
// tolerance(b) = tolerance_scale * (1e-6 + 2e-6 * sqrt(accumulation)): float rounding grows like
// sqrt(length) for sums in different orders, and rms(ref) keeps near-zero elements of a large
// output from demanding a relative accuracy no float sum has.
inline double tolerance(const Buffer& b) {
  return b.tolerance_scale * (1e-6 + 2e-6 * std::sqrt(b.accumulation > 1 ? b.accumulation : 1.0));
}

// An input buffer filled uniformly from [lo, hi].
inline Buffer input_buffer(const std::string& name, int64_t numel, float lo = -1.0f, float hi = 1.0f) {
  return {.name = name, .numel = numel, .lo = lo, .hi = hi};
}
// An output of a fused recurrent cell (LSTM, GRU): a four-term sum, then libm's exp/tanh, whose
// device versions differ from the host's in the last ulps (`scale` times the default tolerance).
inline Buffer cell_output(const std::string& name, int64_t numel, double scale = 4.0) {
  return {.name = name, .numel = numel, .role = Role::Output, .accumulation = 4.0, .tolerance_scale = scale};
}

// Every case, built by the per-op registration functions below, add_X_cases in
// tests/parity/cases_X.cpp (an explicit list, not static initialisers, so nothing is lost when
// linking static libraries). `sizes` picks the size set: Test (small shapes that keep the emulator
// quick) or Bench (AlexNet and convnet-benchmarks layers).
std::vector<OpCase> all_cases(Sizes sizes);

void add_random_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_gemm_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_conv2d_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_conv2d_rounded_cases(std::vector<OpCase>& cases, Sizes sizes);  // TF32/BF16/F16 operands
void add_pool2d_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_softmax_xent_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_activation_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_bias_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_dropout_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_lrn_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_batchnorm_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_optim_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_reduce_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_lstm_cases(std::vector<OpCase>& cases, Sizes sizes);  // the fused LSTM cell
void add_gru_cases(std::vector<OpCase>& cases, Sizes sizes);   // the fused GRU cell
void add_swap_axes_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_embedding_cases(std::vector<OpCase>& cases, Sizes sizes);
void add_rnn_cases(std::vector<OpCase>& cases, Sizes sizes);  // plain RNN cell (tanh, relu)
void add_train_stats_cases(std::vector<OpCase>& cases, Sizes sizes);  // loss/accuracy sums, clip scale
void add_convert_cases(std::vector<OpCase>& cases, Sizes sizes);  // FP32 <-> BF16/F16
void add_loss_scale_cases(std::vector<OpCase>& cases, Sizes sizes);  // FP16 dynamic loss scaling
void add_bce_cases(std::vector<OpCase>& cases, Sizes sizes);

}  // namespace kiln::optable
