// Op-table rows for the fused softmax cross-entropy (kernels/softmax_xent.cu vs
// cpu_fallback/softmax_xent.cpp): narrow rows (one warp per row), wide rows (one block per row,
// 1000 classes), logits of +-1e4, ignored rows (every third, or all of them), and the forward without
// per-row losses. The forward rows of moderate logits name their gradient (the fused backward).
#include <fmt/format.h>

#include <limits>
#include <vector>

#include "kernels/softmax_xent.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

struct XentCase {
  int n, c;
  float range;         // logits uniform in [-range, range)
  int ignore_every;    // every k-th row (from row 0) gets ignore_label; 0: none; 1: all
  int32_t ignore_label;
  bool bench;
  bool neg_inf = false;  // every third logit -inf (except labels)
};

void add_case(std::vector<OpCase>& cases, Sizes sizes, const XentCase& k) {
  SoftmaxXentShape s;
  s.n = k.n;
  s.c = k.c;
  s.ignore_label = k.ignore_label;
  const std::string name = fmt::format("n{}_c{}_range{:g}{}{}", k.n, k.c, k.range,
                                       k.ignore_every ? fmt::format("_ignore{}", k.ignore_every) : "",
                                       k.neg_inf ? "_neginf" : "");
  const Buffer logits = {.name = "logits", .numel = s.size(), .lo = -k.range, .hi = k.range};
  const Buffer labels = {.name = "labels", .numel = s.n, .dtype = DType::I32, .int_range = s.c};
  std::function<void(const Args&)> prepare;
  if (k.ignore_every > 0 || k.neg_inf) {
    prepare = [k, s](const Args& host) {
      if (k.ignore_every > 0)
        for (int i = 0; i < s.n; i += k.ignore_every) host.i32(1)[i] = s.ignore_label;
      if (k.neg_inf)  // some logits -inf (never the label's): they add nothing to the sum
        for (int64_t i = 0; i < s.size(); i += 3)
          if (host.i32(1)[i / s.c] != i % s.c) host.f(0)[i] = -std::numeric_limits<float>::infinity();
    };
  }

  OpCase f;
  f.op = "softmax_xent_forward";
  f.shape = name;
  f.buffers = {logits, labels,
               {.name = "row_loss", .numel = s.n, .role = Role::Output, .accumulation = static_cast<double>(s.c)},
               {.name = "mean_loss", .numel = 1, .role = Role::Output, .accumulation = static_cast<double>(s.size())}};
  f.prepare = prepare;
  f.cpu = [s](const Args& a, const Stream& st) { cpu::softmax_xent_forward(s, a.f(0), a.i32(1), a.f(2), a.f(3), st); };
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::softmax_xent_forward(s, a.f(0), a.i32(1), a.f(2), a.f(3), st);
  });
#endif
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = k.bench;
  // The gradient of the mean loss: the fused backward with dloss = dL/dmean. Not for the rows whose
  // loss float rounding swamps a finite difference (logits of 1e4) or whose -inf logits have no
  // finite neighbours.
  const bool differentiable = k.range <= 10.0f && !k.neg_inf;
  auto gradient = [s](size_t mean) {
    Gradient g{.of = {mean}, .wrt = {0}, .atol = 2e-4, .rtol = 1e-2, .max_checks = 1000};
    g.backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
      cpu::softmax_xent_backward(s, a.f(0), a.i32(1), d.dy[0][0], d.dx[0], st);
    };
    return g;
  };
  if (differentiable) f.gradient = gradient(3);
  cases.push_back(f);

  if (sizes == Sizes::Test) {  // the forward without per-row losses (they go to the workspace)
    OpCase m = f;
    m.op = "softmax_xent_forward_mean_only";
    m.buffers = {logits, labels,
                 {.name = "mean_loss", .numel = 1, .role = Role::Output, .accumulation = static_cast<double>(s.size())}};
    if (differentiable) m.gradient = gradient(2);
    m.cpu = [s](const Args& a, const Stream& st) { cpu::softmax_xent_forward(s, a.f(0), a.i32(1), nullptr, a.f(2), st); };
#if KILN_WITH_DEVICE
    m.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
      gpu::softmax_xent_forward(s, a.f(0), a.i32(1), nullptr, a.f(2), st);
    });
#endif
    cases.push_back(m);
  }

  OpCase b;
  b.op = "softmax_xent_backward";
  b.shape = name;
  b.buffers = {logits, labels,
               {.name = "dlogits", .numel = s.size(), .role = Role::Output, .accumulation = static_cast<double>(s.c)}};
  b.prepare = prepare;
  b.cpu = [s](const Args& a, const Stream& st) { cpu::softmax_xent_backward(s, a.f(0), a.i32(1), 0.75f, a.f(2), st); };
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::softmax_xent_backward(s, a.f(0), a.i32(1), 0.75f, a.f(2), st);
  });
#endif
  b.flops = s.flops();
  b.bytes = 4 * (2 * s.size() + s.n);
  b.bench = k.bench;
  cases.push_back(b);
}

}  // namespace

void add_softmax_xent_cases(std::vector<OpCase>& cases, Sizes sizes) {
  std::vector<XentCase> list;
  if (sizes == Sizes::Test) {
    list = {
        {1, 1, 4.0f, 0, -100, false},       // one class: loss 0, gradient 0
        {3, 7, 4.0f, 0, -100, false},
        {13, 10, 8.0f, 0, -100, false},     // MNIST/CIFAR width
        {33, 127, 4.0f, 3, -100, false},    // ignored rows
        {7, 256, 4.0f, 0, -1, false},       // widest warp row
        {5, 257, 4.0f, 2, -1, false},       // narrowest block row
        {9, 1000, 6.0f, 0, -100, false},    // ImageNet width
        {4, 1000, 1e4f, 0, -100, false},    // +-1e4 logits: no overflow, no lost mass
        {3, 33, 1e4f, 0, -100, false},
        {5, 5, 4.0f, 1, -100, false},       // every row ignored: loss 0, gradient 0
        {2, 3001, 4.0f, 0, -100, false},    // several passes per thread
        {6, 40, 4.0f, 0, -100, false, true},   // -inf logits, warp rows
        {3, 700, 4.0f, 0, -100, false, true},  // -inf logits, block rows
    };
  } else {
    list = {{128, 1000, 8.0f, 0, -100, true}, {128, 10, 8.0f, 0, -100, true}, {1024, 1000, 8.0f, 0, -100, true}};
  }
  for (const XentCase& k : list) add_case(cases, sizes, k);
}

}  // namespace kiln::optable
