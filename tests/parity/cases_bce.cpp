// Op-table rows for the binary cross-entropy terms (kernels/bce.cu) against their cpu_fallback
// twin: with and without the slopes (training, evaluation), and probabilities at the clamps (0
// and 1 exactly, where the logs are cut at -100 and the slope's denominator at 1e-12). The rows
// with slopes name their gradient: dloss/dp and dloss/dt are the op's own dp and dt.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/bce.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

enum class BceRow { Slopes, LossOnly, Clamped };

void add_bce(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t count, BceRow row, bool bench) {
  const BceShape s{.count = count};
  const bool slopes = row != BceRow::LossOnly;
  OpCase c;
  c.op = "bce_forward";
  c.shape = fmt::format("n{}{}", count, row == BceRow::LossOnly ? "_loss_only" : row == BceRow::Clamped ? "_clamped" : "");
  // Away from 0 and 1 unless clamped; logf/log1pf differ in the last ulps between libms.
  const float lo = row == BceRow::Clamped ? 0.0f : 0.02f, hi = row == BceRow::Clamped ? 1.0f : 0.98f;
  c.buffers = {{.name = "p", .numel = count, .lo = lo, .hi = hi},
               {.name = "t", .numel = count, .lo = 0.0f, .hi = 1.0f},
               {.name = "loss", .numel = count, .role = Role::Output, .tolerance_scale = 4.0}};
  if (slopes) {
    c.buffers.push_back({.name = "dp", .numel = count, .role = Role::Output, .tolerance_scale = 4.0});
    c.buffers.push_back({.name = "dt", .numel = count, .role = Role::Output, .tolerance_scale = 4.0});
  }
  c.cpu = [s, slopes](const Args& a, const Stream& st) {
    cpu::bce_forward(s, a.f(0), a.f(1), a.f(2), slopes ? a.f(3) : nullptr, slopes ? a.f(4) : nullptr, st);
  };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(sizes, [s, slopes](const Args& a, const Stream& st) {
    gpu::bce_forward(s, a.f(0), a.f(1), a.f(2), slopes ? a.f(3) : nullptr, slopes ? a.f(4) : nullptr, st);
  });
#endif
  if (row == BceRow::Clamped) {  // exact 0s and 1s among the probabilities and the targets
    c.prepare = [count](const Args& host) {
      for (int64_t i = 0; i < count; i += 3) host.f(0)[i] = static_cast<float>(i / 3 % 2);
      for (int64_t i = 0; i < count; i += 5) host.f(1)[i] = static_cast<float>(i / 5 % 2);
    };
  }
  c.flops = s.flops();
  c.bytes = slopes ? s.bytes() : 12 * count;
  c.bench = bench;
  if (row == BceRow::Slopes) {
    c.gradient = Gradient{.of = {2}, .wrt = {0, 1}, .eps = 1e-3, .atol = 2e-3, .rtol = 2e-3, .max_checks = 64};
    c.gradient->backward = [count](const Args& a, const GradArgs& d, const Stream&) {
      for (int64_t i = 0; i < count; ++i) {
        d.dx[0][i] = d.dy[0][i] * a.f(3)[i];
        d.dx[1][i] = d.dy[0][i] * a.f(4)[i];
      }
    };
  }
  cases.push_back(c);
}

}  // namespace

void add_bce_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    for (int64_t n : {1, 7, 33, 4099}) add_bce(cases, sizes, n, BceRow::Slopes, false);
    add_bce(cases, sizes, 1027, BceRow::LossOnly, false);
    add_bce(cases, sizes, 1027, BceRow::Clamped, false);
  } else {
    // The autoencoder's output, 784 pixels x batch 128, and a large one.
    for (int64_t n : {int64_t{128} * 784, int64_t{1} << 24}) add_bce(cases, sizes, n, BceRow::Slopes, true);
  }
}

}  // namespace kiln::optable
