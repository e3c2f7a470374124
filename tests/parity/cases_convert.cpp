// Op-table rows for the FP32 <-> BF16/F16 conversions (kernels/convert.cu vs
// cpu_fallback/convert.cpp): bit-exact, on odd sizes, with edge values planted in the inputs
// (±0, subnormals, the largest finite values, overflow, ties, inf, NaN).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "core/half.h"
#include "kernels/convert.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// Values where rounding to 16 bits is delicate; planted at the start of an F32 input.
std::vector<float> edge_floats() {
  const float inf = std::numeric_limits<float>::infinity();
  return {0.0f, -0.0f, 1.0f, bits_float(0x3f808000u), bits_float(0x3f818000u),  // bf16 ties
          1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11),      // f16 ties
          std::ldexp(1.0f, -24), std::ldexp(1.0f, -25), std::ldexp(3.0f, -25),  // f16 subnormals
          bits_float(0x00000001u), bits_float(0x00010000u),                     // f32/bf16 subnormals
          65504.0f, 65520.0f, -1e10f, std::numeric_limits<float>::max(), inf, -inf,
          std::numeric_limits<float>::quiet_NaN(), bits_float(0xff800001u)};
}

// 16-bit patterns planted at the start of a BF16/F16 input: ±0, subnormals, max, inf, NaN.
const uint16_t kEdgeBits[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x8001, 0x7bff, 0x7c00, 0xfc00,
                              0x7e00, 0x7f7f, 0x7f80, 0xff80, 0x7fc1, 0x0080, 0x007f};

enum class Dir { ToBf16, FromBf16, ToF16, FromF16 };

void add_convert(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, Dir dir, int64_t n,
                 bool bench) {
  const ConvertShape s{.n = n};
  const bool to16 = dir == Dir::ToBf16 || dir == Dir::ToF16;
  const DType half = dir == Dir::ToBf16 || dir == Dir::FromBf16 ? DType::BF16 : DType::F16;
  static const char* const kNames[] = {"f32_to_bf16", "bf16_to_f32", "f32_to_f16", "f16_to_f32"};
  OpCase c;
  c.op = kNames[static_cast<int>(dir)];
  c.shape = fmt::format("n{}", n);
  c.buffers = {{.name = "x", .numel = n, .dtype = to16 ? DType::F32 : half, .lo = -4.0f, .hi = 4.0f},
               {.name = "y", .numel = n, .role = Role::Output, .dtype = to16 ? half : DType::F32}};
  c.prepare = [n, to16](const Args& a) {
    if (to16) {
      const std::vector<float> edge = edge_floats();
      for (int64_t i = 0; i < n && i < static_cast<int64_t>(edge.size()); ++i) a.f(0)[i] = edge[i];
    } else {
      auto* bits = static_cast<uint16_t*>(a.ptr.at(0));
      for (int64_t i = 0; i < n && i < static_cast<int64_t>(std::size(kEdgeBits)); ++i) bits[i] = kEdgeBits[i];
    }
  };
  const auto call = [dir, s](auto ns, const Args& a, const Stream& st) {
    switch (dir) {
      case Dir::ToBf16: decltype(ns)::f32_to_bf16(s, a.f(0), a.b16(1), st); break;
      case Dir::FromBf16: decltype(ns)::bf16_to_f32(s, a.b16(0), a.f(1), st); break;
      case Dir::ToF16: decltype(ns)::f32_to_f16(s, a.f(0), a.h16(1), st); break;
      case Dir::FromF16: decltype(ns)::f16_to_f32(s, a.h16(0), a.f(1), st); break;
    }
  };
  struct Cpu {
    static void f32_to_bf16(const ConvertShape& s, const float* x, bf16* y, const Stream& st) { cpu::f32_to_bf16(s, x, y, st); }
    static void bf16_to_f32(const ConvertShape& s, const bf16* x, float* y, const Stream& st) { cpu::bf16_to_f32(s, x, y, st); }
    static void f32_to_f16(const ConvertShape& s, const float* x, f16* y, const Stream& st) { cpu::f32_to_f16(s, x, y, st); }
    static void f16_to_f32(const ConvertShape& s, const f16* x, float* y, const Stream& st) { cpu::f16_to_f32(s, x, y, st); }
  };
  c.cpu = [call](const Args& a, const Stream& st) { call(Cpu{}, a, st); };
#if KILN_WITH_DEVICE
  struct Gpu {
    static void f32_to_bf16(const ConvertShape& s, const float* x, bf16* y, const Stream& st) { gpu::f32_to_bf16(s, x, y, st); }
    static void bf16_to_f32(const ConvertShape& s, const bf16* x, float* y, const Stream& st) { gpu::bf16_to_f32(s, x, y, st); }
    static void f32_to_f16(const ConvertShape& s, const float* x, f16* y, const Stream& st) { gpu::f32_to_f16(s, x, y, st); }
    static void f16_to_f32(const ConvertShape& s, const f16* x, float* y, const Stream& st) { gpu::f16_to_f32(s, x, y, st); }
  };
  c.gpu = grid_stride_versions(sizes, [call](const Args& a, const Stream& st) { call(Gpu{}, a, st); });
#endif
  c.bytes = s.bytes();
  c.bench = bench;
  c.exact = true;
  cases.push_back(c);
}

// round_to_precision: FP32 -> FP32 rounded to `p`, bit-exact, edge values planted.
void add_round(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, MathPrecision p, int64_t n, bool bench) {
  const ConvertShape s{.n = n};
  OpCase c;
  c.op = fmt::format("round_to_{}", precision_name(p));
  c.shape = fmt::format("n{}", n);
  c.buffers = {{.name = "x", .numel = n, .lo = -4.0f, .hi = 4.0f},
               {.name = "y", .numel = n, .role = Role::Output}};
  c.prepare = [n](const Args& a) {
    const std::vector<float> edge = edge_floats();
    for (int64_t i = 0; i < n && i < static_cast<int64_t>(edge.size()); ++i) a.f(0)[i] = edge[i];
  };
  c.cpu = [s, p](const Args& a, const Stream& st) { cpu::round_to_precision(s, p, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(
      sizes, [s, p](const Args& a, const Stream& st) { gpu::round_to_precision(s, p, a.f(0), a.f(1), st); });
#endif
  c.bytes = 8 * n;
  c.bench = bench;
  c.exact = true;
  cases.push_back(c);
}

}  // namespace

void add_convert_cases(std::vector<OpCase>& cases, Sizes sizes) {
  for (Dir dir : {Dir::ToBf16, Dir::FromBf16, Dir::ToF16, Dir::FromF16}) {
    if (sizes == Sizes::Test) {
      add_convert(cases, sizes, dir, 1, false);
      add_convert(cases, sizes, dir, 31, false);
      add_convert(cases, sizes, dir, 4099, false);
    } else {
      add_convert(cases, sizes, dir, 64 << 20, true);
    }
  }
  for (MathPrecision p : {MathPrecision::TF32, MathPrecision::BF16, MathPrecision::F16}) {
    if (sizes == Sizes::Test) {
      add_round(cases, sizes, p, 31, false);
      add_round(cases, sizes, p, 4099, false);
    } else {
      add_round(cases, sizes, p, 64 << 20, true);
    }
  }
}

}  // namespace kiln::optable
