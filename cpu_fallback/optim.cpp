// CPU optimiser updates (SGD, Adam/AdamW): the per-element rules of kernels/shapes/optim.h, in
// fixed slices on kiln's CPU workers.
#include "kernels/optim.h"

#include <cmath>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void sgd_update(const SgdShape& shape, float* param, const float* grad, float* momentum_buf, const float* grad_scale,
                const Stream&) {
  shape.validate();
  SgdShape s = shape;
  if (grad_scale) s.grad_scale = *grad_scale;
  if (!std::isfinite(s.grad_scale)) return;  // the step is skipped (kernels/shapes/optim.h)
  KILN_CHECK(s.momentum == 0.0f || momentum_buf != nullptr, "sgd: momentum={} needs a momentum buffer",
             s.momentum);
  detail::for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float unused = 0.0f;
      sgd_element(s, param[i], grad[i], momentum_buf ? momentum_buf[i] : unused);
    }
  });
}

void adam_update(const AdamShape& shape, float* param, const float* grad, float* m, float* v, const float* grad_scale,
                 const Stream&) {
  shape.validate();
  AdamShape s = shape;
  if (grad_scale) s.grad_scale = *grad_scale;
  if (!std::isfinite(s.grad_scale)) return;  // the step is skipped (kernels/shapes/optim.h)
  const float step_size = s.step_size(), bias2_sqrt = s.bias2_sqrt();
  detail::for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) adam_element(s, step_size, bias2_sqrt, param[i], grad[i], m[i], v[i]);
  });
}

}  // namespace kiln::cpu
