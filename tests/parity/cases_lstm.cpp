// Op-table rows for the fused LSTM cell (kernels/lstm.cu vs cpu_fallback/lstm.cpp) with every
// optional operand present and absent, strided input projections (the batch-first layout) and a
// forget-gate bias. The forward rows name their gradient (the fused cell backward), checked by
// finite differences.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/lstm.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

struct CellCase {
  int n, h;
  int64_t extra_stride;  // x_stride = 4H + extra (0: packed)
  float forget_bias;
  bool optional;  // hg, biases, c_prev present (forward); c_prev, dh, dc, dc_prev present (backward)
  bool bench;
};

void add_cell(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, const CellCase& k) {
  LstmCellShape s;
  s.n = k.n;
  s.h = k.h;
  s.x_stride = k.extra_stride ? 4 * k.h + k.extra_stride : 0;
  s.forget_bias = k.forget_bias;
  const int64_t cells = s.cells(), g = s.n * s.gate_cols();
  const std::string name = fmt::format("n{}_h{}{}{}{}", k.n, k.h, k.extra_stride ? fmt::format("_xs{}", s.x_stride) : "",
                                       k.forget_bias != 0 ? fmt::format("_fb{:g}", k.forget_bias) : "",
                                       k.optional ? "" : "_bare");
  const bool o = k.optional;
  // The exp/tanh of the device libm differ from the host's in the last ulps.
  OpCase f;
  f.op = "lstm_cell_forward";
  f.shape = name;
  f.buffers = {input_buffer("xg", (s.n - 1) * s.xg_stride() + s.gate_cols(), -3.0f, 3.0f),
               input_buffer("hg", g),
               input_buffer("b_ih", s.gate_cols()),
               input_buffer("b_hh", s.gate_cols()),
               input_buffer("c_prev", cells, -2.0f, 2.0f),
               cell_output("gates", g),
               cell_output("c", cells),
               cell_output("h", cells)};
  auto fwd = [s, o](auto op) {
    return [s, o, op](const Args& a, const Stream& st) {
      op(s, a.f(0), o ? a.f(1) : nullptr, o ? a.f(2) : nullptr, o ? a.f(3) : nullptr, o ? a.f(4) : nullptr, a.f(5),
         a.f(6), a.f(7), st);
    };
  };
  f.cpu = fwd([](auto&&... x) { cpu::lstm_cell_forward(x...); });
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, fwd([](auto&&... x) { gpu::lstm_cell_forward(x...); }));
#endif
  f.flops = s.flops();
  f.bytes = 4 * (3 * g + 2 * s.gate_cols() + 3 * cells);
  f.bench = k.bench;
  // The gradient of c and h: the fused backward gives da, the gradient of xg (rows x_stride apart),
  // hg and both biases (summed over rows) alike, and dc_prev.
  f.gradient = Gradient{.of = {6, 7}, .wrt = {0}, .atol = 2e-3, .rtol = 1e-2, .max_checks = 200};
  if (o) f.gradient->wrt = {0, 1, 2, 3, 4};
  f.gradient->backward = [s, o](const Args& a, const GradArgs& d, const Stream& st) {
    const int64_t cols = s.gate_cols();
    std::vector<float> da(static_cast<size_t>(s.n * cols)), dc_prev(static_cast<size_t>(s.cells()));
    cpu::lstm_cell_backward(s, a.f(5), o ? a.f(4) : nullptr, a.f(6), d.dy[1], d.dy[0], da.data(), dc_prev.data(), st);
    for (int r = 0; r < s.n; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const float v = da[static_cast<size_t>(r * cols + j)];
        d.dx[0][r * s.xg_stride() + j] = v;
        if (!o) continue;
        d.dx[1][r * cols + j] = v;
        d.dx[2][j] += v;
        d.dx[3][j] += v;
      }
    if (o) std::copy(dc_prev.begin(), dc_prev.end(), d.dx[4]);
  };
  cases.push_back(f);

  OpCase b;
  b.op = "lstm_cell_backward";
  b.shape = name;
  // gates: i, f, o in (0, 1), g in (-1, 1); uniform in (0, 1) covers all of them.
  b.buffers = {input_buffer("gates", g, 0.0f, 1.0f), input_buffer("c_prev", cells, -2.0f, 2.0f),
               input_buffer("c", cells, -2.0f, 2.0f),    input_buffer("dh", cells),
               input_buffer("dc", cells),                cell_output("da", g),
               cell_output("dc_prev", cells)};
  auto bwd = [s, o](auto op) {
    return [s, o, op](const Args& a, const Stream& st) {
      op(s, a.f(0), o ? a.f(1) : nullptr, a.f(2), a.f(3), o ? a.f(4) : nullptr, a.f(5), a.f(6), st);
    };
  };
  b.cpu = bwd([](auto&&... x) { cpu::lstm_cell_backward(x...); });
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, bwd([](auto&&... x) { gpu::lstm_cell_backward(x...); }));
#endif
  b.flops = s.flops();
  b.bytes = 4 * (2 * g + 5 * cells);
  b.bench = k.bench;
  cases.push_back(b);
}

}  // namespace

void add_lstm_cases(std::vector<OpCase>& cases, Sizes sizes) {
  std::vector<CellCase> cells;
  if (sizes == Sizes::Test) {
    cells = {
        {1, 1, 0, 0.0f, true, false},      // smallest
        {3, 5, 0, 0.0f, true, false},
        {4, 33, 0, 1.0f, true, false},     // forget-gate bias
        {5, 17, 0, 0.0f, false, false},    // every optional operand absent
        {7, 40, 13, 0.0f, true, false},    // strided input projection
        {2, 300, 0, 0.0f, true, false},    // several grid-stride passes with 2 blocks
    };
  } else {
    cells = {{64, 256, 0, 0.0f, true, true}, {16, 1024, 0, 0.0f, true, true}, {128, 512, 0, 0.0f, true, true}};
  }
  for (const CellCase& k : cells) add_cell(cases, sizes, k);
}

}  // namespace kiln::optable
