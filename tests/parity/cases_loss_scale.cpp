// Op-table rows for dynamic loss scaling (kernels/loss_scale.cu vs cpu_fallback/loss_scale.cpp),
// bit-exact: scale_gradient in each precision (an F16 row whose factor overflows some elements to
// inf), and loss_scale_update through each branch: a finite step, the step that reaches the growth
// interval, an overflowed (inf) and a NaN step, the scale floor and ceiling, clipping on and off.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "kernels/loss_scale.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_scale_gradient(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, MathPrecision p, float factor,
                        int64_t n, bool bench) {
  const ScaleGradientShape s{.n = n, .precision = p};
  OpCase c;
  c.op = "scale_gradient";
  c.shape = fmt::format("{}_x{}_n{}", precision_name(p), factor, n);
  c.buffers = {{.name = "factor", .numel = 1}, {.name = "x", .numel = n, .role = Role::Accumulate}};
  c.prepare = [factor](const Args& host) { host.f(0)[0] = factor; };
  c.cpu = [s](const Args& a, const Stream& st) { cpu::scale_gradient(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(sizes,
                               [s](const Args& a, const Stream& st) { gpu::scale_gradient(s, a.f(0), a.f(1), st); });
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = bench;
  c.exact = true;
  cases.push_back(c);
}

struct Start {
  float scale, good, skipped;
  float sum0;  // planted as the first sum of squares (0: keep the random ones)
};

void add_update(std::vector<OpCase>& cases, int parts, double max_norm, Start start, const std::string& label) {
  const LossScaleShape s{.parts = parts, .growth_interval = 4, .min_scale = 1.0, .max_scale = 65536.0,
                         .max_norm = max_norm};
  OpCase c;
  c.op = "loss_scale_update";
  c.shape = fmt::format("parts{}_max{}_{}", parts, max_norm, label);
  c.buffers = {{.name = "sums", .numel = parts, .lo = 0.0f, .hi = 4.0f},
               {.name = "state", .numel = kLossScaleSlots, .role = Role::Accumulate},
               {.name = "out", .numel = 2, .role = Role::Output}};
  c.prepare = [start, parts](const Args& host) {
    if (parts > 0 && start.sum0 != 0.0f) host.f(0)[0] = start.sum0;
    host.f(1)[kLossScale] = start.scale;
    host.f(1)[kGoodSteps] = start.good;
    host.f(1)[kSkippedSteps] = start.skipped;
  };
  c.cpu = [s](const Args& a, const Stream& st) { cpu::loss_scale_update(s, a.f(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  c.gpu = {{"v1", [s](const Args& a, const Stream& st) { gpu::loss_scale_update(s, a.f(0), a.f(1), a.f(2), st); }}};
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = false;
  c.exact = true;
  cases.push_back(c);
}

}  // namespace

void add_loss_scale_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes != Sizes::Test) {
    add_scale_gradient(cases, sizes, MathPrecision::F16, 1024.0f, 64 << 20, true);
    return;
  }
  for (MathPrecision p : {MathPrecision::F32, MathPrecision::BF16, MathPrecision::F16}) {
    add_scale_gradient(cases, sizes, p, 1024.0f, 4099, false);
    add_scale_gradient(cases, sizes, p, 0.5f, 31, false);
  }
  add_scale_gradient(cases, sizes, MathPrecision::F16, 65536.0f, 257, false);  // |x| > 1 overflows to inf
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (double max_norm : {0.0, 0.01}) {
    add_update(cases, 5, max_norm, {1024.0f, 0.0f, 0.0f, 0.0f}, "finite");
    add_update(cases, 5, max_norm, {1024.0f, 3.0f, 2.0f, 0.0f}, "grows");
    add_update(cases, 5, max_norm, {65536.0f, 3.0f, 0.0f, 0.0f}, "at_ceiling");
    add_update(cases, 5, max_norm, {1024.0f, 2.0f, 1.0f, inf}, "inf");
    add_update(cases, 5, max_norm, {1024.0f, 2.0f, 1.0f, nan}, "nan");
    add_update(cases, 5, max_norm, {1.0f, 2.0f, 1.0f, inf}, "at_floor");
  }
  add_update(cases, 0, 0.0, {8.0f, 0.0f, 0.0f, 0.0f}, "no_parameters");
}

}  // namespace kiln::optable
