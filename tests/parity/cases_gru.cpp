// Op-table rows for the fused GRU cell (kernels/gru.cu vs cpu_fallback/gru.cpp) with every optional
// operand present and absent and strided input projections. The forward rows name their gradient
// (the fused cell backward), checked by finite differences; the backward rows cover the
// alias-free call with and without the carry.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/gru.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

struct CellCase {
  int n, h;
  int64_t extra_stride;  // x_stride = 3H + extra (0: packed)
  bool optional;         // hg, biases, h_prev present (forward); h_prev, dh_carry, dh_prev (backward)
  bool bench;
};

void add_cell(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, const CellCase& k) {
  GruCellShape s;
  s.n = k.n;
  s.h = k.h;
  s.x_stride = k.extra_stride ? 3 * k.h + k.extra_stride : 0;
  const int64_t cells = s.cells(), g = s.n * s.gate_cols();
  const std::string name = fmt::format("n{}_h{}{}{}", k.n, k.h, k.extra_stride ? fmt::format("_xs{}", s.x_stride) : "",
                                       k.optional ? "" : "_bare");
  const bool o = k.optional;
  // The exp/tanh of the device libm differ from the host's in the last ulps.
  OpCase f;
  f.op = "gru_cell_forward";
  f.shape = name;
  f.buffers = {input_buffer("xg", (s.n - 1) * s.xg_stride() + s.gate_cols(), -3.0f, 3.0f),
               input_buffer("hg", g),
               input_buffer("b_ih", s.gate_cols()),
               input_buffer("b_hh", s.gate_cols()),
               input_buffer("h_prev", cells),
               cell_output("gates", g),
               cell_output("hn", cells),
               cell_output("h", cells)};
  auto fwd = [s, o](auto op) {
    return [s, o, op](const Args& a, const Stream& st) {
      op(s, a.f(0), o ? a.f(1) : nullptr, o ? a.f(2) : nullptr, o ? a.f(3) : nullptr, o ? a.f(4) : nullptr, a.f(5),
         a.f(6), a.f(7), st);
    };
  };
  f.cpu = fwd([](auto&&... x) { cpu::gru_cell_forward(x...); });
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, fwd([](auto&&... x) { gpu::gru_cell_forward(x...); }));
#endif
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = k.bench;
  // The gradient of h: da_x is that of xg (rows x_stride apart) and, summed over rows, of b_ih;
  // da_h that of hg and b_hh; dh_prev that of h_prev (hg is an independent input here).
  f.gradient = Gradient{.of = {7}, .wrt = {0}, .atol = 2e-3, .rtol = 1e-2, .max_checks = 200};
  if (o) f.gradient->wrt = {0, 1, 2, 3, 4};
  f.gradient->backward = [s, o](const Args& a, const GradArgs& d, const Stream& st) {
    const int64_t cols = s.gate_cols();
    std::vector<float> dax(static_cast<size_t>(s.n * cols)), dah(dax.size()), dhp(static_cast<size_t>(s.cells()));
    cpu::gru_cell_backward(s, a.f(5), a.f(6), o ? a.f(4) : nullptr, d.dy[0], nullptr, dax.data(), dah.data(),
                           dhp.data(), st);
    for (int r = 0; r < s.n; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = static_cast<size_t>(r * cols + j);
        d.dx[0][r * s.xg_stride() + j] = dax[i];
        if (!o) continue;
        d.dx[1][i] = dah[i];
        d.dx[2][j] += dax[i];
        d.dx[3][j] += dah[i];
      }
    if (o) std::copy(dhp.begin(), dhp.end(), d.dx[4]);
  };
  cases.push_back(f);

  OpCase b;
  b.op = "gru_cell_backward";
  b.shape = name;
  // gates: r, z in (0, 1), n in (-1, 1); uniform in (0, 1) covers all of them.
  b.buffers = {input_buffer("gates", g, 0.0f, 1.0f), input_buffer("hn", cells),  input_buffer("h_prev", cells),
               input_buffer("dh", cells),              input_buffer("dh_carry", cells), cell_output("da_x", g),
               cell_output("da_h", g),                 cell_output("dh_prev", cells)};
  auto bwd = [s, o](auto op) {
    return [s, o, op](const Args& a, const Stream& st) {
      op(s, a.f(0), a.f(1), o ? a.f(2) : nullptr, a.f(3), o ? a.f(4) : nullptr, a.f(5), a.f(6), a.f(7), st);
    };
  };
  b.cpu = bwd([](auto&&... x) { cpu::gru_cell_backward(x...); });
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, bwd([](auto&&... x) { gpu::gru_cell_backward(x...); }));
#endif
  b.flops = s.backward_flops();
  b.bytes = s.backward_bytes();
  b.bench = k.bench;
  cases.push_back(b);
}

}  // namespace

void add_gru_cases(std::vector<OpCase>& cases, Sizes sizes) {
  std::vector<CellCase> cells;
  if (sizes == Sizes::Test) {
    cells = {
        {1, 1, 0, true, false},     // smallest
        {3, 5, 0, true, false},
        {5, 17, 0, false, false},   // every optional operand absent
        {7, 40, 13, true, false},   // strided input projection
        {2, 300, 0, true, false},   // several grid-stride passes with 2 blocks
    };
  } else {
    cells = {{64, 256, 0, true, true}, {16, 1024, 0, true, true}, {128, 512, 0, true, true}};
  }
  for (const CellCase& k : cells) add_cell(cases, sizes, k);
}

}  // namespace kiln::optable
