// GPU conversions FP32 <-> BF16/F16 (semantics in kernels/shapes/convert.h): one thread per
// element in a grid-stride loop (64-bit indices), calling the scalar conversions of core/half.h
// that the CPU twin calls too. Memory-bound; each warp reads and writes contiguous runs.
#include "core/half.h"
#include "core/stream.h"
#include "kernels/convert.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

struct ToBf16 {
  KILN_HD bf16 operator()(float x) const { return float_to_bf16_rne(x); }
};
struct FromBf16 {
  KILN_HD float operator()(bf16 x) const { return bf16_to_float(x); }
};
struct ToF16 {
  KILN_HD f16 operator()(float x) const { return float_to_f16_rne(x); }
};
struct FromF16 {
  KILN_HD float operator()(f16 x) const { return f16_to_float(x); }
};

template <typename In, typename Out, typename Convert>
__global__ void __launch_bounds__(kThreads)
convert_kernel(int64_t n, const In* __restrict__ x, Out* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    y[i] = Convert{}(x[i]);
}

template <typename In, typename Out, typename Convert>
void run(const ConvertShape& s, const In* x, Out* y, const Stream& stream) {
  s.validate();
  if (s.n == 0) return;
  launch(convert_kernel<In, Out, Convert>, grid_blocks(s.n, kThreads), kThreads, 0, stream, s.n, x,
         y);
}

// In place allowed (x == y), so no __restrict__.
__global__ void __launch_bounds__(kThreads)
round_kernel(int64_t n, MathPrecision p, const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    y[i] = kiln::round_to_precision(p, x[i]);
}

}  // namespace

void f32_to_bf16(const ConvertShape& s, const float* x, bf16* y, const Stream& stream) {
  run<float, bf16, ToBf16>(s, x, y, stream);
}
void bf16_to_f32(const ConvertShape& s, const bf16* x, float* y, const Stream& stream) {
  run<bf16, float, FromBf16>(s, x, y, stream);
}
void f32_to_f16(const ConvertShape& s, const float* x, f16* y, const Stream& stream) {
  run<float, f16, ToF16>(s, x, y, stream);
}
void f16_to_f32(const ConvertShape& s, const f16* x, float* y, const Stream& stream) {
  run<f16, float, FromF16>(s, x, y, stream);
}

void round_to_precision(const ConvertShape& s, MathPrecision p, const float* x, float* y, const Stream& stream) {
  s.validate();
  if (s.n == 0 || (p == MathPrecision::F32 && x == y)) return;
  launch(round_kernel, grid_blocks(s.n, kThreads), kThreads, 0, stream, s.n, p, x, y);
}

Tensor rounded_temporary(MathPrecision p, const float* x, int64_t n, const Stream& stream) {
  Tensor t = Tensor::empty(Shape{n}, stream);
  round_to_precision(ConvertShape{.n = n}, p, x, t.data<float>(), stream);
  return t;
}

}  // namespace kiln::gpu
