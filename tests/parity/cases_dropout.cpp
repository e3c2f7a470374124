// Op-table rows for dropout (kernels/dropout.cu) against its cpu_fallback twin. Bit-exact (the
// Philox mask rule is shared, and one multiply). It also runs in place and at an address that is
// not 16-byte aligned (the kernels' scalar path). The forward rows with separate buffers name their
// gradient (dropout_backward). Sharded rows (first != 0: one rank's slice of a global draw) cover
// first % 4 == 0 (the float4 path), first % 4 != 0 (partial first block), and ragged tails.
#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "kernels/dropout.h"
#include "tests/parity/op_table.h"
#include "tests/parity/placement.h"

namespace kiln::optable {
namespace {

void add_dropout(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, int64_t count, float p, uint64_t seed, uint64_t offset,
                 Placement where, bool bench, uint64_t first = 0, int64_t global_count = 0) {
  DropoutShape s;
  s.count = count;
  s.p = p;
  s.seed = seed;
  s.offset = offset;
  s.first = first;
  s.global_count = global_count;
  const int64_t off = where == Placement::Unaligned ? 1 : 0;
  const int64_t numel = count + off;
  const Role out_role = output_role(where);
  const std::string shard = global_count ? fmt::format("_first{}_of{}", first, global_count) : std::string();
  const std::string name = fmt::format("n{}_p{:g}_seed{}_off{}{}{}", count, p, seed, offset, shard, placement_name(where));

  for (int backward = 0; backward < 2; ++backward) {
    OpCase f;
    f.op = backward ? "dropout_backward" : "dropout_forward";
    f.shape = name;
    const auto cpu_fn = backward ? cpu::dropout_backward : cpu::dropout_forward;
    if (where == Placement::InPlace) {
      f.buffers = {{.name = backward ? "dy_dx" : "x_y", .numel = numel, .role = Role::Accumulate}};
      f.cpu = [s, cpu_fn](const Args& a, const Stream& st) { cpu_fn(s, a.f(0), a.f(0), st); };
    } else {
      f.buffers = {{.name = backward ? "dy" : "x", .numel = numel},
                   {.name = backward ? "dx" : "y", .numel = numel, .role = out_role}};
      f.cpu = [s, off, cpu_fn](const Args& a, const Stream& st) { cpu_fn(s, a.f(0) + off, a.f(1) + off, st); };
    }
#if KILN_WITH_DEVICE
    const auto gpu_fn = backward ? gpu::dropout_backward : gpu::dropout_forward;
    if (where == Placement::InPlace)
      f.gpu = grid_stride_versions(sizes, [s, gpu_fn](const Args& a, const Stream& st) { gpu_fn(s, a.f(0), a.f(0), st); });
    else
      f.gpu = grid_stride_versions(sizes, [s, off, gpu_fn](const Args& a, const Stream& st) {
        gpu_fn(s, a.f(0) + off, a.f(1) + off, st);
      });
#endif
    f.flops = s.flops();
    f.bytes = s.bytes();
    f.bench = bench;
    f.exact = true;
    if (!backward && where == Placement::Separate) {
      f.gradient = Gradient{.of = {1}, .wrt = {0}, .atol = 1e-4, .rtol = 1e-3, .max_checks = 300};
      f.gradient->backward = [s](const Args&, const GradArgs& d, const Stream& st) {
        cpu::dropout_backward(s, d.dy[0], d.dx[0], st);
      };
    }
    cases.push_back(f);
  }

  if (where == Placement::Separate && sizes == Sizes::Test) {
    // The mask as bytes, stored in 32-bit words (the table has no byte type): ceil(count/4) words,
    // of which the op writes the first `count` bytes; the rest keep the initial pattern on both sides.
    OpCase m;
    m.op = "dropout_mask";
    m.shape = name;
    m.buffers = {{.name = "mask_bytes", .numel = (count + 3) / 4, .role = Role::Output, .dtype = DType::I32}};
    m.cpu = [s](const Args& a, const Stream& st) {
      cpu::dropout_mask(s, reinterpret_cast<uint8_t*>(a.i32(0)), st);
    };
#if KILN_WITH_DEVICE
    m.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
      gpu::dropout_mask(s, reinterpret_cast<uint8_t*>(a.i32(0)), st);
    });
#endif
    m.flops = s.flops();
    m.bytes = count;
    m.bench = false;
    m.exact = true;
    cases.push_back(m);
  }
}

}  // namespace

void add_dropout_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    for (int64_t n : {1, 3, 7, 13, 33, 127, 4099}) add_dropout(cases, sizes, n, 0.5f, 42, 0, Placement::Separate, false);
    add_dropout(cases, sizes, 1001, 0.1f, 7, 12345, Placement::Separate, false);
    add_dropout(cases, sizes, 1001, 0.0f, 7, 3, Placement::Separate, false);   // keeps everything
    add_dropout(cases, sizes, 1001, 0.9f, uint64_t{1} << 40, (uint64_t{1} << 32) - 3, Placement::Separate, false);
    add_dropout(cases, sizes, 1027, 0.5f, 9, 1, Placement::InPlace, false);
    add_dropout(cases, sizes, 1027, 0.5f, 9, 1, Placement::Unaligned, false);
    // Sharded slices: (count, first, global).
    struct Slice {
      int64_t count;
      uint64_t first;
      int64_t global;
    };
    for (const Slice& c : {Slice{13, 8, 64}, Slice{13, 5, 64}, Slice{1, 7, 8}, Slice{2, 1, 3}, Slice{1001, 3, 3000},
                           Slice{4099, 4100, 8199}, Slice{4098, 4101, 8199}})
      add_dropout(cases, sizes, c.count, 0.5f, 42, 5, Placement::Separate, false, c.first, c.global);
    add_dropout(cases, sizes, 1027, 0.3f, 9, 1, Placement::InPlace, false, 6, 2053);
    add_dropout(cases, sizes, 1027, 0.3f, 9, 1, Placement::Unaligned, false, 2, 2049);
    add_dropout(cases, sizes, 1026, 0.3f, 9, 1, Placement::InPlace, false, 1020, 2046);
  } else {
    add_dropout(cases, sizes, int64_t{128} * 4096, 0.5f, 42, 0, Placement::InPlace, true);  // fc6/fc7 outputs
    add_dropout(cases, sizes, int64_t{128} * 9216, 0.5f, 42, 0, Placement::Separate, true);
  }
}

}  // namespace kiln::optable
