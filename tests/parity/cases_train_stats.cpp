// Op-table rows for the training-step statistics (kernels/train_stats.cu vs
// cpu_fallback/train_stats.cpp), compared bit for bit: accumulate_step_stats from a running
// accumulator (finite losses, an infinite and a NaN loss recorded as the first bad step, a later
// bad loss that must not replace it, counted = 0 and near its limit), and clip_scale over 0, 1 and
// many parts with the norm below and above max_norm. The accumulator is doubles: an I32 buffer of
// 2 * kStatSlots words, its starting values written by `prepare`.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/train_stats.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

double* as_doubles(int32_t* words) { return reinterpret_cast<double*>(words); }

void add_accumulate(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t counted, float loss,
                    double first_bad) {
  const StepStatsShape s{.counted = counted, .step = 9};
  OpCase c;
  c.op = "accumulate_step_stats";
  c.shape = fmt::format("counted{}_loss{}_bad{}", counted, loss, first_bad);
  c.buffers = {{.name = "loss", .numel = 1},
               {.name = "correct", .numel = 1, .dtype = DType::I32, .int_range = 100},
               {.name = "acc", .numel = 2 * kStatSlots, .role = Role::Accumulate, .dtype = DType::I32}};
  c.prepare = [loss, first_bad](const Args& host) {
    if (loss != 0.0f) host.f(0)[0] = loss;  // 0: keep the random loss in [-1, 1)
    const double start[kStatSlots] = {12.5, 3, 100.25, 40, 0.7, first_bad, first_bad != 0 ? INFINITY : 0.0};
    std::memcpy(host.i32(2), start, sizeof start);
  };
  c.cpu = [s](const Args& a, const Stream& st) { cpu::accumulate_step_stats(s, a.f(0), a.i32(1), as_doubles(a.i32(2)), st); };
#if KILN_WITH_DEVICE
  c.gpu = {{"v1", [s](const Args& a, const Stream& st) {
              gpu::accumulate_step_stats(s, a.f(0), a.i32(1), as_doubles(a.i32(2)), st);
            }}};
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = false;
  c.exact = true;
  cases.push_back(c);
}

void add_clip(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int parts, double max_norm) {
  const ClipShape s{.parts = parts, .max_norm = max_norm};
  OpCase c;
  c.op = "clip_scale";
  c.shape = fmt::format("parts{}_max{}", parts, max_norm);
  c.buffers = {{.name = "sums", .numel = parts, .lo = 0.0f, .hi = 4.0f},
               {.name = "scale", .numel = 2, .role = Role::Output}};
  c.cpu = [s](const Args& a, const Stream& st) { cpu::clip_scale(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  c.gpu = {{"v1", [s](const Args& a, const Stream& st) { gpu::clip_scale(s, a.f(0), a.f(1), st); }}};
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = false;
  c.exact = true;
  cases.push_back(c);
}

}  // namespace

void add_train_stats_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes != Sizes::Test) return;  // a few scalars: nothing to benchmark
  const float nan = std::numeric_limits<float>::quiet_NaN();
  add_accumulate(cases, sizes, 64, 0.0f, 0);
  add_accumulate(cases, sizes, 0, 2.5f, 0);
  add_accumulate(cases, sizes, (int64_t{1} << 29) - 1, 0.0f, 0);
  add_accumulate(cases, sizes, 17, INFINITY, 0);   // recorded as the first bad step
  add_accumulate(cases, sizes, 17, nan, 0);        // likewise
  add_accumulate(cases, sizes, 17, -INFINITY, 4);  // an earlier bad step stays recorded
  for (int parts : {0, 1, 5, 37})
    for (double max_norm : {1.0, 1000.0}) add_clip(cases, sizes, parts, max_norm);
}

}  // namespace kiln::optable
