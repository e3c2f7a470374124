// GPU activations: memory-bound elementwise kernels, one kernel per activation (a template on the
// kind, so the switch of activation_apply folds away). Each thread handles float4 groups in a
// grid-stride loop when every pointer is 16-byte aligned (the caching allocator's are), then the
// last count % 4 elements one by one; unaligned pointers (views at odd offsets) take the scalar
// loop for everything. In place is allowed (y == x, dx == dy): every element is read once, then
// written by the same thread, so the kernels do not use __restrict__ or the read-only cache.
// The math is kernels/shapes/activation.h's, shared with the CPU: relu and leaky relu are
// bit-identical to the CPU twin; the others differ by the device libm's last-ulp rounding
// (expf, expm1f, tanhf) and nvcc's FMA contraction.
#include <cstdint>

#include "core/stream.h"
#include "kernels/activation.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

template <Activation K>
__global__ void __launch_bounds__(kThreads)
activation_forward_kernel(int64_t count, float param, bool vec, const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t n4 = vec ? count / 4 : 0;
  for (int64_t i = tid; i < n4; i += stride) {
    float4 v = reinterpret_cast<const float4*>(x)[i];
    v.x = activation_apply(K, param, v.x);
    v.y = activation_apply(K, param, v.y);
    v.z = activation_apply(K, param, v.z);
    v.w = activation_apply(K, param, v.w);
    reinterpret_cast<float4*>(y)[i] = v;
  }
  for (int64_t i = n4 * 4 + tid; i < count; i += stride) y[i] = activation_apply(K, param, x[i]);
}

template <Activation K>
__global__ void __launch_bounds__(kThreads)
activation_backward_kernel(int64_t count, float param, bool vec, const float* y, const float* dy, float* dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t n4 = vec ? count / 4 : 0;
  for (int64_t i = tid; i < n4; i += stride) {
    const float4 v = reinterpret_cast<const float4*>(y)[i];
    float4 d = reinterpret_cast<const float4*>(dy)[i];
    d.x = d.x * activation_grad_from_y(K, param, v.x);
    d.y = d.y * activation_grad_from_y(K, param, v.y);
    d.z = d.z * activation_grad_from_y(K, param, v.z);
    d.w = d.w * activation_grad_from_y(K, param, v.w);
    reinterpret_cast<float4*>(dx)[i] = d;
  }
  for (int64_t i = n4 * 4 + tid; i < count; i += stride) dx[i] = dy[i] * activation_grad_from_y(K, param, y[i]);
}

static bool is_aligned(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <Activation K>
void forward_as(const ActivationShape& s, const float* x, float* y, const Stream& stream) {
  const bool vec = is_aligned(x) && is_aligned(y);
  launch(activation_forward_kernel<K>, grid_blocks(vec ? (s.count + 3) / 4 : s.count, kThreads), kThreads, 0, stream,
         s.count, s.param, vec, x, y);
}

template <Activation K>
void backward_as(const ActivationShape& s, const float* y, const float* dy, float* dx, const Stream& stream) {
  const bool vec = is_aligned(y) && is_aligned(dy) && is_aligned(dx);
  launch(activation_backward_kernel<K>, grid_blocks(vec ? (s.count + 3) / 4 : s.count, kThreads), kThreads, 0,
         stream, s.count, s.param, vec, y, dy, dx);
}

}  // namespace

void activation_forward(const ActivationShape& shape, const float* x, float* y, const Stream& stream) {
  shape.validate();
  if (shape.count == 0) return;
  switch (shape.kind) {
    case Activation::Relu: return forward_as<Activation::Relu>(shape, x, y, stream);
    case Activation::LeakyRelu: return forward_as<Activation::LeakyRelu>(shape, x, y, stream);
    case Activation::Elu: return forward_as<Activation::Elu>(shape, x, y, stream);
    case Activation::Sigmoid: return forward_as<Activation::Sigmoid>(shape, x, y, stream);
    case Activation::Tanh: return forward_as<Activation::Tanh>(shape, x, y, stream);
  }
}

void activation_backward(const ActivationShape& shape, const float* y, const float* dy, float* dx,
                         const Stream& stream) {
  shape.validate();
  if (shape.count == 0) return;
  switch (shape.kind) {
    case Activation::Relu: return backward_as<Activation::Relu>(shape, y, dy, dx, stream);
    case Activation::LeakyRelu: return backward_as<Activation::LeakyRelu>(shape, y, dy, dx, stream);
    case Activation::Elu: return backward_as<Activation::Elu>(shape, y, dy, dx, stream);
    case Activation::Sigmoid: return backward_as<Activation::Sigmoid>(shape, y, dy, dx, stream);
    case Activation::Tanh: return backward_as<Activation::Tanh>(shape, y, dy, dx, stream);
  }
}

}  // namespace kiln::gpu
