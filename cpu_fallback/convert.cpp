// CPU conversions FP32 <-> BF16/F16 and FP32 rounding to a MathPrecision: the scalar conversions of
// core/half.h in a loop, OpenMP over chunks of the array for large n.
#include "kernels/convert.h"

#include <vector>

#include "core/half.h"
#include "cpu_fallback/parallel.h"
#include "cpu_fallback/rounded_copy.h"

namespace kiln::cpu {
namespace {

template <typename In, typename Out, typename Convert>
void run(const ConvertShape& s, const In* x, Out* y, Convert convert) {
  s.validate();
#pragma omp parallel for schedule(static) if (s.n >= detail::kParallelMin)
  for (int64_t i = 0; i < s.n; ++i) y[i] = convert(x[i]);
}

}  // namespace

void f32_to_bf16(const ConvertShape& s, const float* x, bf16* y, const Stream&) {
  run(s, x, y, [](float v) { return float_to_bf16_rne(v); });
}
void bf16_to_f32(const ConvertShape& s, const bf16* x, float* y, const Stream&) {
  run(s, x, y, [](bf16 v) { return bf16_to_float(v); });
}
void f32_to_f16(const ConvertShape& s, const float* x, f16* y, const Stream&) {
  run(s, x, y, [](float v) { return float_to_f16_rne(v); });
}
void f16_to_f32(const ConvertShape& s, const f16* x, float* y, const Stream&) {
  run(s, x, y, [](f16 v) { return f16_to_float(v); });
}

void round_to_precision(const ConvertShape& s, MathPrecision p, const float* x, float* y, const Stream&) {
  if (p == MathPrecision::F32 && x == y) return;
  run(s, x, y, [p](float v) { return kiln::round_to_precision(p, v); });
}

namespace detail {

std::vector<float> rounded_copy(MathPrecision p, const float* x, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  round_to_precision(ConvertShape{.n = n}, p, x, out.data(), Stream::default_for(Device::cpu()));
  return out;
}

}  // namespace detail

}  // namespace kiln::cpu
