// CPU activations: one elementwise loop each way, in fixed slices on kiln's CPU workers.
#include "kernels/activation.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void activation_forward(const ActivationShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const Activation kind = s.kind;
  const float param = s.param;
  detail::for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = activation_apply(kind, param, x[i]);
  });
}

void activation_backward(const ActivationShape& s, const float* y, const float* dy, float* dx, const Stream&) {
  s.validate();
  const Activation kind = s.kind;
  const float param = s.param;
  detail::for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * activation_grad_from_y(kind, param, y[i]);
  });
}

}  // namespace kiln::cpu
