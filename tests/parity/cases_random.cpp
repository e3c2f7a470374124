// Op-table rows for the Philox random fills: bit-exact between the CPU and the GPU.
#include <fmt/format.h>

#include "kernels/random.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {

void add_random_cases(std::vector<OpCase>& cases, Sizes sizes) {
  const std::vector<int64_t> counts =
      sizes == Sizes::Test ? std::vector<int64_t>{1, 7, 4096, 100003} : std::vector<int64_t>{int64_t{1} << 24};
  for (int64_t n : counts) {
    OpCase u;
    u.op = "fill_uniform";
    u.shape = fmt::format("n{}", n);
    u.buffers = {{.name = "out", .numel = n, .role = Role::Output}};
    const RandomShape us{.n = n, .seed = 5, .offset = 77, .lo = -2.0f, .hi = 3.0f};
    u.cpu = [us](const Args& a, const Stream& s) { cpu::fill_uniform(us, a.f(0), s); };
#if KILN_WITH_DEVICE
    u.gpu = {{"v1", [us](const Args& a, const Stream& s) { gpu::fill_uniform(us, a.f(0), s); }}};
#endif
    u.bytes = us.bytes();
    u.exact = true;
    cases.push_back(u);

    OpCase z = u;
    z.op = "fill_normal";
    const RandomShape zs{.n = n, .seed = 5, .offset = 77, .mean = 0.5f, .stddev = 2.0f};
    z.cpu = [zs](const Args& a, const Stream& s) { cpu::fill_normal(zs, a.f(0), s); };
#if KILN_WITH_DEVICE
    z.gpu = {{"v1", [zs](const Args& a, const Stream& s) { gpu::fill_normal(zs, a.f(0), s); }}};
#endif
    cases.push_back(z);
  }
}

}  // namespace kiln::optable
