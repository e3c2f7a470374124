// GPU optimiser updates: memory-bound elementwise kernels. The per-element arithmetic is the CPU
// twin's own code (sgd_element, adam_element in kernels/shapes/optim.h, compiled for both), with the
// per-step scalars computed once on the host in double (AdamShape::step_size, bias2_sqrt), so the
// operation order is identical; on a real GPU the results differ from the CPU only where nvcc
// contracts a multiply-add into an FMA (one rounding instead of two). Float4 loads and stores when
// every buffer is 16-byte aligned, scalar tail and scalar path otherwise; grid-stride loops.
#include <cstdint>

#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/optim.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
sgd_kernel(SgdShape s, bool vec, float* __restrict__ param, const float* __restrict__ grad,
           float* __restrict__ buf, const float* __restrict__ scale) {
  if (scale) s.grad_scale = *scale;
  if (!(s.grad_scale - s.grad_scale == 0.0f)) return;  // not finite: the step is skipped
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t n4 = vec ? s.count / 4 : 0;
  for (int64_t i = tid; i < n4; i += stride) {
    float4 p = reinterpret_cast<float4*>(param)[i];
    const float4 g = reinterpret_cast<const float4*>(grad)[i];
    float4 b = buf ? reinterpret_cast<float4*>(buf)[i] : float4{0.0f, 0.0f, 0.0f, 0.0f};
    sgd_element(s, p.x, g.x, b.x);
    sgd_element(s, p.y, g.y, b.y);
    sgd_element(s, p.z, g.z, b.z);
    sgd_element(s, p.w, g.w, b.w);
    reinterpret_cast<float4*>(param)[i] = p;
    if (buf) reinterpret_cast<float4*>(buf)[i] = b;
  }
  for (int64_t i = n4 * 4 + tid; i < s.count; i += stride) {
    float b = buf ? buf[i] : 0.0f;
    sgd_element(s, param[i], grad[i], b);
    if (buf) buf[i] = b;
  }
}

__global__ void __launch_bounds__(kThreads)
adam_kernel(AdamShape s, float step_size, float bias2_sqrt, bool vec, float* __restrict__ param,
            const float* __restrict__ grad, float* __restrict__ m, float* __restrict__ v,
            const float* __restrict__ scale) {
  if (scale) s.grad_scale = *scale;
  if (!(s.grad_scale - s.grad_scale == 0.0f)) return;  // not finite: the step is skipped
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t n4 = vec ? s.count / 4 : 0;
  for (int64_t i = tid; i < n4; i += stride) {
    float4 p = reinterpret_cast<float4*>(param)[i];
    const float4 g = reinterpret_cast<const float4*>(grad)[i];
    float4 mm = reinterpret_cast<float4*>(m)[i];
    float4 vv = reinterpret_cast<float4*>(v)[i];
    adam_element(s, step_size, bias2_sqrt, p.x, g.x, mm.x, vv.x);
    adam_element(s, step_size, bias2_sqrt, p.y, g.y, mm.y, vv.y);
    adam_element(s, step_size, bias2_sqrt, p.z, g.z, mm.z, vv.z);
    adam_element(s, step_size, bias2_sqrt, p.w, g.w, mm.w, vv.w);
    reinterpret_cast<float4*>(param)[i] = p;
    reinterpret_cast<float4*>(m)[i] = mm;
    reinterpret_cast<float4*>(v)[i] = vv;
  }
  for (int64_t i = n4 * 4 + tid; i < s.count; i += stride)
    adam_element(s, step_size, bias2_sqrt, param[i], grad[i], m[i], v[i]);
}


}  // namespace

void sgd_update(const SgdShape& shape, float* param, const float* grad, float* momentum_buf, const float* grad_scale,
                const Stream& stream) {
  shape.validate();
  KILN_CHECK(shape.momentum == 0.0f || momentum_buf != nullptr, "sgd: momentum={} needs a momentum buffer",
             shape.momentum);
  if (shape.count == 0) return;
  float* buf = shape.momentum != 0.0f ? momentum_buf : nullptr;
  const bool vec = aligned16(param) && aligned16(grad) && (!buf || aligned16(buf));
  launch(sgd_kernel, grid_blocks(vec ? (shape.count + 3) / 4 : shape.count, kThreads), kThreads, 0, stream, shape,
         vec, param, grad, buf, grad_scale);
}

void adam_update(const AdamShape& shape, float* param, const float* grad, float* m, float* v, const float* grad_scale,
                 const Stream& stream) {
  shape.validate();
  if (shape.count == 0) return;
  const bool vec = aligned16(param) && aligned16(grad) && aligned16(m) && aligned16(v);
  launch(adam_kernel, grid_blocks(vec ? (shape.count + 3) / 4 : shape.count, kThreads), kThreads, 0, stream, shape,
         shape.step_size(), shape.bias2_sqrt(), vec, param, grad, m, v, grad_scale);
}

}  // namespace kiln::gpu
