// Op-table rows for local response normalisation across channels (kernels/lrn.cu vs
// cpu_fallback/lrn.cpp). alpha is raised above AlexNet's 1e-4 in most test shapes so that the
// normalisation is far from the identity and its backward terms are exercised; the backward's
// y and scale inputs come from a CPU forward pass on its x (prepare), as in training. The forward
// rows name their gradient (lrn_backward).
#include <fmt/format.h>

#include <vector>

#include "kernels/lrn.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_case(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int n, int c, int h, int w, int size, float alpha,
              float beta, float k, bool bench) {
  LrnShape s;
  s.n = n, s.c = c, s.h = h, s.w = w;
  s.size = size, s.alpha = alpha, s.beta = beta, s.k = k;
  const int64_t X = s.x_size();
  const std::string name = fmt::format("n{}_c{}_h{}w{}_size{}_a{:g}_b{:g}_k{:g}", n, c, h, w, size, alpha, beta, k);
  const double acc = static_cast<double>(size);

  OpCase f;
  f.op = "lrn_forward";
  f.shape = name;
  f.buffers = {{.name = "x", .numel = X, .lo = -2.0f, .hi = 2.0f},
               {.name = "y", .numel = X, .role = Role::Output, .accumulation = acc},
               {.name = "scale", .numel = X, .role = Role::Output, .accumulation = acc}};
  f.cpu = [s](const Args& a, const Stream& st) { cpu::lrn_forward(s, a.f(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::lrn_forward(s, a.f(0), a.f(1), a.f(2), st); });
#endif
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = bench;
  // The gradient, with a step of 1% of the inputs' range. With AlexNet's tiny alpha the inputs are
  // scaled to +-30 so that the normalisation is not the identity.
  const float amp = alpha < 1e-3f ? 30.0f : 2.0f;
  f.gradient = Gradient{.of = {1}, .wrt = {0}, .eps = amp * 1e-2, .atol = 5e-4, .rtol = 5e-3, .max_checks = 200};
  f.gradient->backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
    cpu::lrn_backward(s, a.f(0), a.f(1), a.f(2), d.dy[0], d.dx[0], st);
  };
  if (amp != 2.0f) {
    f.gradient->prepare = [X, amp](const Args& host) {
      for (int64_t i = 0; i < X; ++i) host.f(0)[i] *= amp / 2.0f;
    };
  }
  cases.push_back(f);

  OpCase b;
  b.op = "lrn_backward";
  b.shape = name;
  b.buffers = {{.name = "x", .numel = X, .lo = -2.0f, .hi = 2.0f},
               {.name = "y", .numel = X},
               {.name = "scale", .numel = X},
               {.name = "dy", .numel = X},
               {.name = "dx", .numel = X, .role = Role::Output, .accumulation = acc}};
  b.prepare = [s](const Args& host) {
    cpu::lrn_forward(s, host.f(0), host.f(1), host.f(2), Stream::default_for(Device::cpu()));
  };
  b.cpu = [s](const Args& a, const Stream& st) { cpu::lrn_backward(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), st); };
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::lrn_backward(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), st);
  });
#endif
  b.flops = X * (3 * static_cast<int64_t>(size) + 6);
  b.bytes = 4 * 5 * X;
  b.bench = bench;
  cases.push_back(b);
}

}  // namespace

void add_lrn_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    add_case(cases, sizes, 1, 1, 1, 1, 5, 1.0f, 0.75f, 2.0f, false);     // one channel
    add_case(cases, sizes, 2, 7, 3, 5, 5, 1.0f, 0.75f, 2.0f, false);
    add_case(cases, sizes, 1, 13, 7, 7, 5, 0.5f, 0.75f, 1.0f, false);
    add_case(cases, sizes, 2, 33, 3, 3, 3, 1.0f, 0.5f, 1.0f, false);
    add_case(cases, sizes, 1, 5, 13, 13, 4, 1.0f, 0.75f, 2.0f, false);   // even size: asymmetric window
    add_case(cases, sizes, 1, 3, 1, 1, 1, 1.0f, 0.75f, 2.0f, false);     // size 1
    add_case(cases, sizes, 1, 4, 2, 3, 9, 1.0f, 0.75f, 2.0f, false);     // window wider than C
    add_case(cases, sizes, 1, 96, 5, 5, 5, 1e-4f, 0.75f, 2.0f, false);   // AlexNet parameters
    add_case(cases, sizes, 2, 9, 1, 127, 5, 1.0f, 0.75f, 2.0f, false);   // long rows
  } else {
    add_case(cases, sizes, 128, 96, 55, 55, 5, 1e-4f, 0.75f, 2.0f, true);   // after conv1
    add_case(cases, sizes, 128, 256, 27, 27, 5, 1e-4f, 0.75f, 2.0f, true);  // after conv2
  }
}

}  // namespace kiln::optable
