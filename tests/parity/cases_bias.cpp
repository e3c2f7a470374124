// Op-table rows for the bias add and the bias gradient (kernels/bias.cu) against their
// cpu_fallback twins. Bit-exact: bias add (one add). The forward rows name their gradient
// (bias_backward).
#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "kernels/bias.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

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

}  // namespace

void add_bias_cases(std::vector<OpCase>& cases, Sizes sizes) {
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

}  // namespace kiln::optable
