// Op-table rows for the training-loop reductions (kernels/reduce.cu vs cpu_fallback/reduce.cpp):
// sum and sum of squares over empty, tiny, chunk-boundary (16384) and multi-chunk sizes, aligned and
// not; count_correct over narrow and 1000-class rows with ignored rows and rows whose label is the
// argmax (prepare), compared exactly.
#include <fmt/format.h>

#include <vector>

#include "kernels/reduce.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_sums(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t count, bool unaligned, bool bench) {
  ReduceShape s;
  s.count = count;
  const int64_t off = unaligned ? 1 : 0;
  const std::string name = fmt::format("n{}{}", count, unaligned ? "_unaligned" : "");
  for (int squares = 0; squares < 2; ++squares) {
    OpCase c;
    c.op = squares ? "reduce_sum_squares" : "reduce_sum";
    c.shape = name;
    c.buffers = {{.name = "x", .numel = count + off},
                 {.name = "out", .numel = 1, .role = Role::Output, .accumulation = static_cast<double>(count)}};
    const auto cpu_fn = squares ? cpu::reduce_sum_squares : cpu::reduce_sum;
    c.cpu = [s, off, cpu_fn](const Args& a, const Stream& st) { cpu_fn(s, a.f(0) + off, a.f(1), st); };
#if KILN_WITH_DEVICE
    const auto gpu_fn = squares ? gpu::reduce_sum_squares : gpu::reduce_sum;
    c.gpu = grid_stride_versions(sizes, [s, off, gpu_fn](const Args& a, const Stream& st) { gpu_fn(s, a.f(0) + off, a.f(1), st); });
#endif
    c.flops = s.flops() * (squares ? 2 : 1);
    c.bytes = s.bytes();
    c.bench = bench;
    cases.push_back(c);
  }
}

void add_correct(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int n, int c, int32_t ignore_label, bool bench) {
  AccuracyShape s;
  s.n = n;
  s.c = c;
  s.ignore_label = ignore_label;
  OpCase k;
  k.op = "count_correct";
  k.shape = fmt::format("n{}_c{}_ignore{}", n, c, ignore_label);
  k.buffers = {{.name = "logits", .numel = static_cast<int64_t>(n) * c},
               {.name = "labels", .numel = n, .dtype = DType::I32, .int_range = c},
               {.name = "out", .numel = 1, .role = Role::Output, .dtype = DType::I32}};
  // Rows 0, 2, 4, ... get their argmax as the label (counted), every fifth row is ignored, the
  // others keep a random label (counted about 1/C of the time).
  k.prepare = [s](const Args& host) {
    for (int i = 0; i < s.n; ++i) {
      const float* x = host.f(0) + static_cast<int64_t>(i) * s.c;
      if (i % 5 == 4) {
        host.i32(1)[i] = s.ignore_label;
      } else if (i % 2 == 0) {
        int best = 0;
        for (int j = 1; j < s.c; ++j)
          if (x[j] > x[best]) best = j;
        host.i32(1)[i] = best;
      }
    }
  };
  k.cpu = [s](const Args& a, const Stream& st) { cpu::count_correct(s, a.f(0), a.i32(1), a.i32(2), st); };
#if KILN_WITH_DEVICE
  k.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::count_correct(s, a.f(0), a.i32(1), a.i32(2), st); });
#endif
  k.flops = s.flops();
  k.bytes = s.bytes();
  k.bench = bench;
  k.exact = true;
  cases.push_back(k);
}

}  // namespace

void add_reduce_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    for (int64_t n : {0, 1, 3, 7, 33, 127, 16384, 16385, 100003}) add_sums(cases, sizes, n, false, false);
    add_sums(cases, sizes, 40001, true, false);
    add_correct(cases, sizes, 1, 1, -100, false);
    add_correct(cases, sizes, 7, 3, -100, false);
    add_correct(cases, sizes, 33, 10, -1, false);
    add_correct(cases, sizes, 13, 1000, -100, false);
    add_correct(cases, sizes, 5, 257, -100, false);
  } else {
    add_sums(cases, sizes, int64_t{4096} * 9216, false, true);  // gradient norm of fc6's weights
    add_correct(cases, sizes, 128, 1000, -100, true);
  }
}

}  // namespace kiln::optable
