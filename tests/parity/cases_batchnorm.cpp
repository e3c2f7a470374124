// Op-table rows for batch normalisation (kernels/batchnorm.cu vs cpu_fallback/batchnorm.cpp): the
// training forward (batch statistics, running-statistic update; its gradient with respect to x,
// gamma and beta is checked through batchnorm_backward's CPU twin), the evaluation forward, and the
// backward (its mean and invstd from a CPU forward on its x, as in training). Shapes cover short
// rows (the kernels' flattened path, BatchNorm1d's inner = 1) and long ones (threads along rows).
#include <fmt/format.h>

#include <vector>

#include "kernels/batchnorm.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_case(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int n, int c, int64_t inner, bool bench) {
  BatchNormShape s;
  s.n = n, s.c = c, s.inner = inner;
  const int64_t X = s.x_size();
  const std::string name = fmt::format("n{}_c{}_inner{}", n, c, inner);
  const auto count = static_cast<double>(s.count());

  OpCase f;
  f.op = "batchnorm_forward_train";
  f.shape = name;
  f.buffers = {{.name = "x", .numel = X, .lo = -2.0f, .hi = 3.0f},
               {.name = "gamma", .numel = c, .lo = 0.5f, .hi = 1.5f},
               {.name = "beta", .numel = c},
               {.name = "y", .numel = X, .role = Role::Output, .accumulation = count},
               {.name = "mean", .numel = c, .role = Role::Output, .accumulation = count},
               {.name = "invstd", .numel = c, .role = Role::Output, .accumulation = count},
               {.name = "running_mean", .numel = c, .role = Role::Accumulate, .accumulation = count},
               {.name = "running_var", .numel = c, .role = Role::Accumulate, .lo = 0.5f, .hi = 2.0f,
                .accumulation = count}};
  f.cpu = [s](const Args& a, const Stream& st) {
    cpu::batchnorm_forward_train(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), a.f(6), a.f(7), st);
  };
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::batchnorm_forward_train(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), a.f(6), a.f(7), st);
  });
#endif
  f.flops = s.flops();
  f.bytes = s.bytes();
  f.bench = bench;
  f.gradient = Gradient{.of = {3}, .wrt = {0, 1, 2}, .eps = 1e-2, .atol = 5e-4, .rtol = 5e-3, .max_checks = 100};
  f.gradient->backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
    cpu::batchnorm_backward(s, a.f(0), a.f(1), a.f(4), a.f(5), d.dy[0], d.dx[0], d.dx[1], d.dx[2], st);
  };
  cases.push_back(f);

  OpCase e;
  e.op = "batchnorm_forward_eval";
  e.shape = name;
  e.buffers = {{.name = "x", .numel = X, .lo = -2.0f, .hi = 3.0f},
               {.name = "gamma", .numel = c, .lo = 0.5f, .hi = 1.5f},
               {.name = "beta", .numel = c},
               {.name = "running_mean", .numel = c},
               {.name = "running_var", .numel = c, .lo = 0.5f, .hi = 2.0f},
               {.name = "y", .numel = X, .role = Role::Output}};
  e.cpu = [s](const Args& a, const Stream& st) {
    cpu::batchnorm_forward_eval(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), st);
  };
#if KILN_WITH_DEVICE
  e.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::batchnorm_forward_eval(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), st);
  });
#endif
  e.flops = 2 * X;
  e.bytes = 8 * X;
  e.bench = bench;
  cases.push_back(e);

  OpCase b;
  b.op = "batchnorm_backward";
  b.shape = name;
  b.buffers = {{.name = "x", .numel = X, .lo = -2.0f, .hi = 3.0f},
               {.name = "gamma", .numel = c, .lo = 0.5f, .hi = 1.5f},
               {.name = "mean", .numel = c},
               {.name = "invstd", .numel = c},
               {.name = "dy", .numel = X},
               {.name = "dx", .numel = X, .role = Role::Output, .accumulation = count},
               {.name = "dgamma", .numel = c, .role = Role::Accumulate, .accumulation = count},
               {.name = "dbeta", .numel = c, .role = Role::Accumulate, .accumulation = count}};
  b.prepare = [s, X](const Args& host) {
    std::vector<float> y(static_cast<size_t>(X));
    cpu::batchnorm_forward_train(s, host.f(0), nullptr, nullptr, y.data(), host.f(2), host.f(3), nullptr, nullptr,
                                 Stream::default_for(Device::cpu()));
  };
  b.cpu = [s](const Args& a, const Stream& st) {
    cpu::batchnorm_backward(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), a.f(6), a.f(7), st);
  };
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::batchnorm_backward(s, a.f(0), a.f(1), a.f(2), a.f(3), a.f(4), a.f(5), a.f(6), a.f(7), st);
  });
#endif
  b.flops = 10 * X;
  b.bytes = 4 * 5 * X;
  b.bench = bench;
  cases.push_back(b);
}

}  // namespace

void add_batchnorm_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    add_case(cases, sizes, 2, 1, 1, false);      // the least training allows: 2 values
    add_case(cases, sizes, 3, 7, 1, false);      // BatchNorm1d on (N, C)
    add_case(cases, sizes, 2, 3, 5, false);      // short rows: the flattened path
    add_case(cases, sizes, 4, 5, 130, false);    // rows of more than 128: threads along rows, a tail
    add_case(cases, sizes, 3, 9, 300, false);    // several passes along a row
    add_case(cases, sizes, 8, 70, 49, false);    // ResNet's 7x7 maps
  } else {
    add_case(cases, sizes, 256, 64, 56 * 56, true);   // ResNet-50 layer1
    add_case(cases, sizes, 256, 256, 14 * 14, true);  // layer3
    add_case(cases, sizes, 256, 2048, 7 * 7, true);   // layer4
  }
}

}  // namespace kiln::optable
