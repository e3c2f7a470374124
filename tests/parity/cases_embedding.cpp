// Op-table rows for the embedding lookup (kernels/embedding.cu vs cpu_fallback/embedding.cpp) with
// its deterministic backward (bit-exact: both devices sum the same rows in the same order), with
// repeated ids, a tiny vocabulary (every row hit many times) and widths that are not multiples of
// the kernel's 128-feature slice. The forward rows name their gradient (the embedding backward),
// checked by finite differences.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/embedding.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

void add_embedding(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t n, int v, int d, bool bench) {
  const EmbeddingShape s{.n = n, .v = v, .d = d};
  const std::string name = fmt::format("n{}_v{}_d{}", n, v, d);
  const Buffer ids = {.name = "ids", .numel = n, .dtype = DType::I32, .int_range = v};
  OpCase f;
  f.op = "embedding_forward";
  f.shape = name;
  f.buffers = {ids,
               {.name = "weight", .numel = s.table_size()},
               {.name = "y", .numel = s.out_size(), .role = Role::Output}};
  f.cpu = [s](const Args& a, const Stream& st) { cpu::embedding_forward(s, a.i32(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  f.gpu = grid_stride_versions(sizes,
                       [s](const Args& a, const Stream& st) { gpu::embedding_forward(s, a.i32(0), a.f(1), a.f(2), st); });
#endif
  f.bytes = s.bytes();
  f.bench = bench;
  f.exact = true;
  f.gradient = Gradient{.of = {2}, .wrt = {1}, .atol = 1e-4, .rtol = 1e-3};
  f.gradient->backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
    cpu::embedding_backward(s, a.i32(0), d.dy[0], d.dx[0], st);
  };
  cases.push_back(f);

  OpCase b;
  b.op = "embedding_backward";
  b.shape = name;
  b.buffers = {ids, {.name = "dy", .numel = s.out_size()},
               {.name = "dweight", .numel = s.table_size(), .role = Role::Accumulate}};
  b.cpu = [s](const Args& a, const Stream& st) { cpu::embedding_backward(s, a.i32(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  b.gpu = grid_stride_versions(sizes,
                       [s](const Args& a, const Stream& st) { gpu::embedding_backward(s, a.i32(0), a.f(1), a.f(2), st); });
#endif
  b.flops = s.flops();
  b.bytes = 4 * (2 * s.out_size() + n + 2 * s.table_size());
  b.bench = bench;
  b.exact = true;
  cases.push_back(b);
}

}  // namespace

void add_embedding_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    add_embedding(cases, sizes, 1, 1, 1, false);
    add_embedding(cases, sizes, 37, 11, 20, false);    // ids repeat
    add_embedding(cases, sizes, 300, 3, 5, false);     // tiny vocabulary: long runs, several id chunks
    add_embedding(cases, sizes, 50, 70, 130, false);   // two feature slices, most rows unused
    add_embedding(cases, sizes, 9, 1000, 257, false);  // three slices
  } else {
    add_embedding(cases, sizes, 64 * 35, 10000, 128, true);
    add_embedding(cases, sizes, 64 * 100, 96, 128, true);
  }
}

}  // namespace kiln::optable
