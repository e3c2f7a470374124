// Op-table rows for the plain RNN cell (kernels/rnn.cu vs cpu_fallback/rnn.cpp): both activations,
// each optional operand (hg, b_ih, b_hh) present and absent, strided input projections (the
// batch-first layout), in place (h over a packed xg, da over dh), H = 1, H not a multiple of 4 or
// 32, and sizes that take several grid-stride passes (and, in v1, more cells than one full grid).
// relu is bit-exact (the same adds in the same order, a select; backward one multiply by 0 or 1);
// tanh differs by the device tanhf's last ulps (and FMA contraction of 1 - h^2 in backward). The
// kink of relu cannot make these rows flaky: both sides compute a bit-identical pre-activation, and
// the backward's h is made a real relu output (negatives set to exactly 0) so the zero branch is
// exercised as it is in training. The forward rows (but the one of 2M cells) name their gradient,
// checked by finite differences on pre-activations kept away from relu's kink.
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/rnn.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// Which optional operands of the forward are present.
enum Operand : unsigned { kHg = 1, kBih = 2, kBhh = 4, kAll = 7 };

struct RnnCase {
  RnnActivation act;
  int n, h;
  int64_t extra_stride;  // x_stride = H + extra (0: packed)
  unsigned operands;     // Operand bits
  bool in_place;         // h aliases xg (forward), da aliases dh (backward); packed only
  bool bench;
};

const char* act_name(RnnActivation a) { return a == RnnActivation::Relu ? "relu" : "tanh"; }

std::string operands_name(unsigned o) {
  if (o == kAll) return "";
  if (o == 0) return "_bare";
  return fmt::format("{}{}{}", o & kHg ? "" : "_nohg", o & kBih ? "" : "_nobih", o & kBhh ? "" : "_nobhh");
}

// A four-term sum then one libm call (forward) or one product (backward).
Buffer out(const std::string& name, int64_t numel, Role role = Role::Output) {
  return {.name = name, .numel = numel, .role = role, .accumulation = 4.0};
}

// The forward's gradient with respect to its present operands: the backward gives da, the gradient
// of xg (rows x_stride apart), hg and both biases (summed over rows) alike. For relu, every
// pre-activation is moved at least 0.2 away from the kink at 0 (in xg; eps is 1e-3).
Gradient rnn_gradient(const RnnCellShape& s, unsigned o, bool in_place) {
  Gradient g{.of = {in_place ? size_t{0} : size_t{4}}, .wrt = {0}, .eps = 1e-3, .atol = 2e-4, .rtol = 2e-3,
             .max_checks = 1000};
  for (unsigned bit : {kHg, kBih, kBhh})
    if (o & bit) g.wrt.push_back(bit == kHg ? 1 : bit == kBih ? 2 : 3);
  g.backward = [s, o, in_place](const Args& a, const GradArgs& d, const Stream& st) {
    std::vector<float> da(static_cast<size_t>(s.cells()));
    cpu::rnn_cell_backward(s, in_place ? a.f(0) : a.f(4), d.dy[0], da.data(), st);
    size_t next = 1;
    float* dhg = o & kHg ? d.dx[next++] : nullptr;
    float* db_ih = o & kBih ? d.dx[next++] : nullptr;
    float* db_hh = o & kBhh ? d.dx[next++] : nullptr;
    for (int r = 0; r < s.n; ++r)
      for (int j = 0; j < s.h; ++j) {
        const float v = da[static_cast<size_t>(r) * s.h + j];
        d.dx[0][r * s.xg_stride() + j] = v;
        if (dhg) dhg[static_cast<int64_t>(r) * s.h + j] = v;
        if (db_ih) db_ih[j] += v;
        if (db_hh) db_hh[j] += v;
      }
  };
  if (s.activation == RnnActivation::Relu) {
    g.prepare = [s, o](const Args& host) {
      for (int r = 0; r < s.n; ++r)
        for (int j = 0; j < s.h; ++j) {
          float& x = host.f(0)[r * s.xg_stride() + j];
          float pre = x;
          if (o & kHg) pre += host.f(1)[static_cast<int64_t>(r) * s.h + j];
          if (o & kBih) pre += host.f(2)[j];
          if (o & kBhh) pre += host.f(3)[j];
          if (std::fabs(pre) < 0.2f) x += pre < 0 ? -0.2f : 0.2f;
        }
    };
  }
  return g;
}

void add_cell(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, const RnnCase& k) {
  RnnCellShape s;
  s.n = k.n;
  s.h = k.h;
  s.x_stride = k.extra_stride ? k.h + k.extra_stride : 0;
  s.activation = k.act;
  const int64_t cells = s.cells();
  const bool relu = k.act == RnnActivation::Relu;
  const std::string name =
      fmt::format("{}_n{}_h{}{}{}{}", act_name(k.act), k.n, k.h, k.extra_stride ? fmt::format("_xs{}", s.x_stride) : "",
                  operands_name(k.operands), k.in_place ? "_inplace" : "");

  OpCase f;
  f.op = "rnn_cell_forward";
  f.shape = name;
  const unsigned o = k.operands;
  // Buffers: xg (xg_h in place), hg, b_ih, b_hh[, h]. An absent operand keeps its buffer (and its
  // guard) but is passed as nullptr.
  f.buffers = {input_buffer("xg", (s.n - 1) * s.xg_stride() + s.h, -3.0f, 3.0f), input_buffer("hg", cells),
               input_buffer("b_ih", s.h), input_buffer("b_hh", s.h)};
  if (k.in_place) {
    f.buffers[0].name = "xg_h";
    f.buffers[0].role = Role::Accumulate;
    f.buffers[0].accumulation = 4.0;
  } else {
    f.buffers.push_back(out("h", cells));
  }
  auto fwd = [s, o, ip = k.in_place](auto op) {
    return [s, o, ip, op](const Args& a, const Stream& st) {
      op(s, a.f(0), o & kHg ? a.f(1) : nullptr, o & kBih ? a.f(2) : nullptr, o & kBhh ? a.f(3) : nullptr,
         ip ? a.f(0) : a.f(4), st);
    };
  };
  f.cpu = fwd([](auto&&... x) { cpu::rnn_cell_forward(x...); });
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, fwd([](auto&&... x) { gpu::rnn_cell_forward(x...); }));
#endif
  f.flops = s.flops();
  f.bytes = 4 * (2 * cells + (o & kHg ? cells : 0) + ((o & kBih ? 1 : 0) + (o & kBhh ? 1 : 0)) * int64_t{s.h});
  f.bench = k.bench;
  f.exact = relu;
  if (cells <= (int64_t{1} << 16)) f.gradient = rnn_gradient(s, o, k.in_place);
  cases.push_back(f);

  OpCase b;
  b.op = "rnn_cell_backward";
  b.shape = name;
  // h in the range the activation produces: tanh (-1, 1); relu [0, 1) with exact zeros (prepare).
  b.buffers = {input_buffer("h", cells),
               k.in_place ? out("dh_da", cells, Role::Accumulate) : input_buffer("dh", cells)};
  if (!k.in_place) b.buffers.push_back(out("da", cells));
  if (relu) {
    b.prepare = [cells](const Args& host) {
      for (int64_t i = 0; i < cells; ++i) host.f(0)[i] = host.f(0)[i] > 0.0f ? host.f(0)[i] : 0.0f;
    };
  }
  auto bwd = [s, ip = k.in_place](auto op) {
    return [s, ip, op](const Args& a, const Stream& st) { op(s, a.f(0), a.f(1), ip ? a.f(1) : a.f(2), st); };
  };
  b.cpu = bwd([](auto&&... x) { cpu::rnn_cell_backward(x...); });
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, bwd([](auto&&... x) { gpu::rnn_cell_backward(x...); }));
#endif
  b.flops = s.backward_flops();
  b.bytes = s.backward_bytes();
  b.bench = k.bench;
  b.exact = relu;
  cases.push_back(b);
}

}  // namespace

void add_rnn_cases(std::vector<OpCase>& cases, Sizes sizes) {
  using A = RnnActivation;
  std::vector<RnnCase> rows;
  if (sizes == Sizes::Test) {
    for (A act : {A::Tanh, A::Relu}) {
      rows.insert(rows.end(), {
                                  {act, 1, 1, 0, kAll, false, false},          // smallest
                                  {act, 3, 5, 0, kAll, false, false},
                                  {act, 4, 33, 0, 0, false, false},            // every optional operand absent
                                  {act, 5, 17, 0, kBih | kBhh, false, false},  // first step: no h_{t-1}
                                  {act, 2, 7, 0, kHg | kBih, false, false},    // one bias (bias=False pairs)
                                  {act, 6, 9, 0, kHg | kBhh, false, false},
                                  {act, 7, 40, 13, kAll, false, false},        // strided input projection
                                  {act, 1, 3, 0, kHg, true, false},            // in place
                                  {act, 9, 301, 0, kAll, true, false},         // in place, several blocks
                                  {act, 3, 700, 0, kAll, false, false},  // several grid-stride passes (grid2)
                              });
    }
    rows.push_back({A::Tanh, 9, 233017, 5, kAll, false, false});  // > 8192 * 256 cells: v1 loops too
  } else {
    rows = {{A::Tanh, 64, 512, 0, kAll, false, true},
            {A::Relu, 64, 512, 0, kAll, false, true},
            {A::Tanh, 128, 1024, 0, kAll, true, true},
            {A::Tanh, 64, 1024, 34 * 1024, kAll, false, true}};  // batch-first xg of 35 steps: rows T*H apart
  }
  for (const RnnCase& k : rows) add_cell(cases, sizes, k);
}

}  // namespace kiln::optable
