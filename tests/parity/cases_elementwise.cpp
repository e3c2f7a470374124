// Op-table rows for the elementwise families: activations (kernels/activation.cu), bias add and
// bias gradient (kernels/bias.cu), dropout (kernels/dropout.cu), against their cpu_fallback twins.
// Bit-exact: relu and leaky relu (forward and backward), bias add (one add), dropout (the Philox
// mask rule is shared, and one multiply). Each family also runs in place and at an address that is
// not 16-byte aligned (the kernels' scalar path). The forward rows with separate buffers name their
// gradients (activation_backward, bias_backward, dropout_backward).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/bias.h"
#include "kernels/dropout.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// How a case places its data: separate buffers, in place, or one element past an aligned start.
enum class Placement { Separate, InPlace, Unaligned };
const char* placement_name(Placement p) {
  return p == Placement::Separate ? "" : p == Placement::InPlace ? "_inplace" : "_unaligned";
}

// Unaligned cases leave element 0 of the output alone: it starts random (Accumulate) on both sides
// rather than as the harness's unwritten-NaN pattern, which would poison the tolerance's RMS.
Role output_role(Placement p) { return p == Placement::Unaligned ? Role::Accumulate : Role::Output; }

// ---- activations ------------------------------------------------------------------------------

void add_activation(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, Activation kind, float param, int64_t count,
                    Placement where, bool bench) {
  ActivationShape s;
  s.count = count;
  s.kind = kind;
  s.param = param;
  const bool exact = kind == Activation::Relu || kind == Activation::LeakyRelu;
  const int64_t off = where == Placement::Unaligned ? 1 : 0;  // element offset of the data
  const int64_t numel = count + off;
  const Role out_role = output_role(where);
  const std::string name =
      fmt::format("{}_n{}{}", activation_name(kind), count, placement_name(where));
  // Backward inputs: y in the range f can produce.
  const float ylo = kind == Activation::Sigmoid ? 0.0f : -1.0f, yhi = 1.0f;

  OpCase f;
  f.op = "activation_forward";
  f.shape = name;
  if (where == Placement::InPlace) {
    f.buffers = {{.name = "x_y", .numel = numel, .role = Role::Accumulate, .lo = -3.0f, .hi = 3.0f}};
    f.cpu = [s](const Args& a, const Stream& st) { cpu::activation_forward(s, a.f(0), a.f(0), st); };
#if KILN_WITH_DEVICE
    f.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::activation_forward(s, a.f(0), a.f(0), st); });
#endif
  } else {
    f.buffers = {{.name = "x", .numel = numel, .lo = -3.0f, .hi = 3.0f},
                 {.name = "y", .numel = numel, .role = out_role}};
    f.cpu = [s, off](const Args& a, const Stream& st) { cpu::activation_forward(s, a.f(0) + off, a.f(1) + off, st); };
#if KILN_WITH_DEVICE
    f.gpu = grid_stride_versions(sizes, [s, off](const Args& a, const Stream& st) {
      gpu::activation_forward(s, a.f(0) + off, a.f(1) + off, st);
    });
#endif
  }
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = bench;
  f.exact = exact;
  if (where == Placement::Separate) {  // the gradient, from the output, away from the kink at 0
    f.gradient = Gradient{.of = {1}, .wrt = {0}, .eps = 1e-3, .atol = 2e-4, .rtol = 2e-3, .max_checks = 64};
    f.gradient->backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
      cpu::activation_backward(s, a.f(1), d.dy[0], d.dx[0], st);
    };
    f.gradient->prepare = [count](const Args& host) {
      for (int64_t i = 0; i < count; ++i) {
        float& v = host.f(0)[i];
        if (std::fabs(v) < 0.1f) v += v < 0 ? -0.1f : 0.1f;
      }
    };
  }
  cases.push_back(f);

  OpCase b;
  b.op = "activation_backward";
  b.shape = name;
  if (where == Placement::InPlace) {
    b.buffers = {{.name = "y", .numel = numel, .lo = ylo, .hi = yhi},
                 {.name = "dy_dx", .numel = numel, .role = Role::Accumulate}};
    b.cpu = [s](const Args& a, const Stream& st) { cpu::activation_backward(s, a.f(0), a.f(1), a.f(1), st); };
#if KILN_WITH_DEVICE
    b.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
      gpu::activation_backward(s, a.f(0), a.f(1), a.f(1), st);
    });
#endif
  } else {
    b.buffers = {{.name = "y", .numel = numel, .lo = ylo, .hi = yhi},
                 {.name = "dy", .numel = numel},
                 {.name = "dx", .numel = numel, .role = out_role}};
    b.cpu = [s, off](const Args& a, const Stream& st) {
      cpu::activation_backward(s, a.f(0) + off, a.f(1) + off, a.f(2) + off, st);
    };
#if KILN_WITH_DEVICE
    b.gpu = grid_stride_versions(sizes, [s, off](const Args& a, const Stream& st) {
      gpu::activation_backward(s, a.f(0) + off, a.f(1) + off, a.f(2) + off, st);
    });
#endif
  }
  b.flops = s.flops();
  b.bytes = 12 * count;
  b.bench = bench;
  b.exact = exact;
  cases.push_back(b);
}

void add_activations(std::vector<OpCase>& cases, Sizes sizes) {
  const std::vector<std::pair<Activation, float>> kinds = {{Activation::Relu, 0.0f},
                                                            {Activation::LeakyRelu, 0.01f},
                                                            {Activation::Elu, 1.0f},
                                                            {Activation::Sigmoid, 0.0f},
                                                            {Activation::Tanh, 0.0f}};
  for (const auto& [kind, param] : kinds) {
    if (sizes == Sizes::Test) {
      for (int64_t n : {1, 3, 7, 13, 33, 127, 4099}) add_activation(cases, sizes, kind, param, n, Placement::Separate, false);
      add_activation(cases, sizes, kind, param, 1027, Placement::InPlace, false);
      add_activation(cases, sizes, kind, param, 1027, Placement::Unaligned, false);
    } else {
      // AlexNet conv1 and conv2 outputs and fc6 at batch 128.
      for (int64_t n : {int64_t{128} * 96 * 55 * 55, int64_t{128} * 256 * 27 * 27, int64_t{128} * 4096})
        add_activation(cases, sizes, kind, param, n, Placement::InPlace, true);
    }
  }
}

// ---- bias ---------------------------------------------------------------------------------------

void add_bias(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int n, int c, int64_t inner, bool bench) {
  BiasShape s;
  s.n = n;
  s.c = c;
  s.inner = inner;
  const std::string name = fmt::format("n{}_c{}_inner{}", n, c, inner);

  OpCase f;
  f.op = "bias_add";
  f.shape = name;
  f.buffers = {{.name = "bias", .numel = c}, {.name = "y", .numel = s.size(), .role = Role::Accumulate}};
  f.cpu = [s](const Args& a, const Stream& st) { cpu::bias_add(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::bias_add(s, a.f(0), a.f(1), st); });
#endif
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = bench;
  f.exact = true;
  f.gradient = Gradient{.of = {1}, .wrt = {0}, .atol = 1e-4, .rtol = 1e-3};
  f.gradient->backward = [s](const Args&, const GradArgs& d, const Stream& st) {
    cpu::bias_backward(s, d.dy[0], d.dx[0], st);
  };
  cases.push_back(f);

  OpCase b;
  b.op = "bias_backward";
  b.shape = name;
  b.buffers = {{.name = "dy", .numel = s.size()},
               {.name = "db", .numel = c, .role = Role::Accumulate,
                .accumulation = static_cast<double>(n) * static_cast<double>(inner)}};
  b.cpu = [s](const Args& a, const Stream& st) { cpu::bias_backward(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::bias_backward(s, a.f(0), a.f(1), st); });
#endif
  b.flops = s.flops();
  b.bytes = 4 * (s.size() + 2 * static_cast<int64_t>(c));
  b.bench = bench;
  cases.push_back(b);
}

void add_biases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    add_bias(cases, sizes, 1, 1, 1, false);
    add_bias(cases, sizes, 3, 7, 1, false);      // fully connected features
    add_bias(cases, sizes, 33, 10, 1, false);
    add_bias(cases, sizes, 5, 4, 16, false);     // short planes (the "features" kernels)
    add_bias(cases, sizes, 2, 13, 33, false);    // odd planes
    add_bias(cases, sizes, 2, 3, 127, false);
    add_bias(cases, sizes, 2, 5, 64, false);     // float4 rows
    add_bias(cases, sizes, 3, 3, 3025, false);   // AlexNet conv1 plane: split reduction
    add_bias(cases, sizes, 40, 2, 2000, false);  // several splits per channel
  } else {
    add_bias(cases, sizes, 128, 96, 55 * 55, true);   // conv1
    add_bias(cases, sizes, 128, 256, 27 * 27, true);  // conv2
    add_bias(cases, sizes, 128, 256, 13 * 13, true);  // conv5
    add_bias(cases, sizes, 128, 4096, 1, true);       // fc6
  }
}

// ---- dropout --------------------------------------------------------------------------------------

void add_dropout(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t count, float p, uint64_t seed, uint64_t offset,
                 Placement where, bool bench) {
  DropoutShape s;
  s.count = count;
  s.p = p;
  s.seed = seed;
  s.offset = offset;
  const int64_t off = where == Placement::Unaligned ? 1 : 0;
  const int64_t numel = count + off;
  const Role out_role = output_role(where);
  const std::string name = fmt::format("n{}_p{:g}_seed{}_off{}{}", count, p, seed, offset, placement_name(where));

  for (int backward = 0; backward < 2; ++backward) {
    OpCase f;
    f.op = backward ? "dropout_backward" : "dropout_forward";
    f.shape = name;
    const auto cpu_fn = backward ? cpu::dropout_backward : cpu::dropout_forward;
    if (where == Placement::InPlace) {
      f.buffers = {{.name = backward ? "dy_dx" : "x_y", .numel = numel, .role = Role::Accumulate}};
      f.cpu = [s, cpu_fn](const Args& a, const Stream& st) { cpu_fn(s, a.f(0), a.f(0), st); };
    } else {
      f.buffers = {{.name = backward ? "dy" : "x", .numel = numel},
                   {.name = backward ? "dx" : "y", .numel = numel, .role = out_role}};
      f.cpu = [s, off, cpu_fn](const Args& a, const Stream& st) { cpu_fn(s, a.f(0) + off, a.f(1) + off, st); };
    }
#if KILN_WITH_DEVICE
    const auto gpu_fn = backward ? gpu::dropout_backward : gpu::dropout_forward;
    if (where == Placement::InPlace)
      f.gpu = grid_stride_versions(sizes, [s, gpu_fn](const Args& a, const Stream& st) { gpu_fn(s, a.f(0), a.f(0), st); });
    else
      f.gpu = grid_stride_versions(sizes, [s, off, gpu_fn](const Args& a, const Stream& st) {
        gpu_fn(s, a.f(0) + off, a.f(1) + off, st);
      });
#endif
    f.flops = s.flops();
    f.bytes = s.bytes();
    f.bench = bench;
    f.exact = true;
    if (!backward && where == Placement::Separate) {
      f.gradient = Gradient{.of = {1}, .wrt = {0}, .atol = 1e-4, .rtol = 1e-3, .max_checks = 300};
      f.gradient->backward = [s](const Args&, const GradArgs& d, const Stream& st) {
        cpu::dropout_backward(s, d.dy[0], d.dx[0], st);
      };
    }
    cases.push_back(f);
  }

  if (where == Placement::Separate && sizes == Sizes::Test) {
    // The mask as bytes, stored in 32-bit words (the table has no byte type): ceil(count/4) words,
    // of which the op writes the first `count` bytes; the rest keep the initial pattern on both sides.
    OpCase m;
    m.op = "dropout_mask";
    m.shape = name;
    m.buffers = {{.name = "mask_bytes", .numel = (count + 3) / 4, .role = Role::Output, .dtype = DType::I32}};
    m.cpu = [s](const Args& a, const Stream& st) {
      cpu::dropout_mask(s, reinterpret_cast<uint8_t*>(a.i32(0)), st);
    };
#if KILN_WITH_DEVICE
    m.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
      gpu::dropout_mask(s, reinterpret_cast<uint8_t*>(a.i32(0)), st);
    });
#endif
    m.flops = s.flops();
    m.bytes = count;
    m.bench = false;
    m.exact = true;
    cases.push_back(m);
  }
}

void add_dropouts(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    for (int64_t n : {1, 3, 7, 13, 33, 127, 4099}) add_dropout(cases, sizes, n, 0.5f, 42, 0, Placement::Separate, false);
    add_dropout(cases, sizes, 1001, 0.1f, 7, 12345, Placement::Separate, false);
    add_dropout(cases, sizes, 1001, 0.0f, 7, 3, Placement::Separate, false);   // keeps everything
    add_dropout(cases, sizes, 1001, 0.9f, uint64_t{1} << 40, (uint64_t{1} << 32) - 3, Placement::Separate, false);
    add_dropout(cases, sizes, 1027, 0.5f, 9, 1, Placement::InPlace, false);
    add_dropout(cases, sizes, 1027, 0.5f, 9, 1, Placement::Unaligned, false);
  } else {
    add_dropout(cases, sizes, int64_t{128} * 4096, 0.5f, 42, 0, Placement::InPlace, true);  // fc6/fc7 outputs
    add_dropout(cases, sizes, int64_t{128} * 9216, 0.5f, 42, 0, Placement::Separate, true);
  }
}

}  // namespace

void add_elementwise_cases(std::vector<OpCase>& cases, Sizes sizes) {
  add_activations(cases, sizes);
  add_biases(cases, sizes);
  add_dropouts(cases, sizes);
}

}  // namespace kiln::optable
