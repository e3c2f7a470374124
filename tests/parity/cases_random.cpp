// Op-table rows for the Philox random fills: bit-exact between the CPU and the GPU.
#include <fmt/format.h>

#include "cpu_fallback/random.h"
#include "tests/parity/op_table.h"

#if KILN_WITH_DEVICE
#include "kernels/random.cuh"
#endif

namespace kiln::optable {

void add_random_cases(std::vector<OpCase>& cases, Sizes sizes) {
  const std::vector<int64_t> counts =
      sizes == Sizes::Test ? std::vector<int64_t>{1, 7, 4096, 100003} : std::vector<int64_t>{int64_t{1} << 24};
  for (int64_t n : counts) {
    OpCase u;
    u.op = "fill_uniform";
    u.shape = fmt::format("n{}", n);
    u.buffers = {{.name = "out", .numel = n, .role = Role::Output}};
    u.cpu = [n](const Args& a, const Stream& s) { cpu::fill_uniform(a.f(0), n, 5, 77, -2.0f, 3.0f, s); };
#if KILN_WITH_DEVICE
    u.gpu = {{"v1", [n](const Args& a, const Stream& s) { gpu::fill_uniform(a.f(0), n, 5, 77, -2.0f, 3.0f, s); }}};
#endif
    u.bytes = 4 * n;
    u.exact = true;
    cases.push_back(u);

    OpCase z = u;
    z.op = "fill_normal";
    z.cpu = [n](const Args& a, const Stream& s) { cpu::fill_normal(a.f(0), n, 5, 77, 0.5f, 2.0f, s); };
#if KILN_WITH_DEVICE
    z.gpu = {{"v1", [n](const Args& a, const Stream& s) { gpu::fill_normal(a.f(0), n, 5, 77, 0.5f, 2.0f, s); }}};
#endif
    cases.push_back(z);
  }
}

}  // namespace kiln::optable
