// Op-table rows for the activations (kernels/activation.cu) against their cpu_fallback twins:
// relu, leaky relu, elu, sigmoid and tanh. Bit-exact: relu and leaky relu (forward and backward).
// Each kind also runs in place and at an address that is not 16-byte aligned (the kernels' scalar
// path). The forward rows with separate buffers name their gradient (activation_backward).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "tests/parity/op_table.h"
#include "tests/parity/placement.h"

namespace kiln::optable {
namespace {

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

}  // namespace

void add_activation_cases(std::vector<OpCase>& cases, Sizes sizes) {
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

}  // namespace kiln::optable
