// Op-table rows for the axis swap (kernels/swap_axes.cu vs cpu_fallback/swap_axes.cpp): (A, B,
// inner) to (B, A, inner), bit-exact. The rows name their gradient (the swap back), checked by
// finite differences.
#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "kernels/swap_axes.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_swap(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t a_dim, int64_t b_dim, int64_t inner, bool bench) {
  const SwapAxesShape s{.a = a_dim, .b = b_dim, .inner = inner};
  OpCase c;
  c.op = "swap_axes";
  c.shape = fmt::format("a{}_b{}_inner{}", a_dim, b_dim, inner);
  c.buffers = {{.name = "x", .numel = s.size()}, {.name = "y", .numel = s.size(), .role = Role::Output}};
  c.cpu = [s](const Args& a, const Stream& st) { cpu::swap_axes(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::swap_axes(s, a.f(0), a.f(1), st); });
#endif
  c.bytes = s.bytes();
  c.bench = bench;
  c.exact = true;
  c.gradient = Gradient{.of = {1}, .wrt = {0}, .atol = 1e-5, .rtol = 1e-4};
  c.gradient->backward = [s](const Args&, const GradArgs& d, const Stream& st) {  // the swap back
    cpu::swap_axes({.a = s.b, .b = s.a, .inner = s.inner}, d.dy[0], d.dx[0], st);
  };
  cases.push_back(c);
}

}  // namespace

void add_swap_axes_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    add_swap(cases, sizes, 1, 1, 1, false);
    add_swap(cases, sizes, 3, 5, 7, false);
    add_swap(cases, sizes, 13, 4, 33, false);
  } else {
    add_swap(cases, sizes, 64, 35, 256, true);
  }
}

}  // namespace kiln::optable
