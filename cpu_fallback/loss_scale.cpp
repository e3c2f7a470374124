// CPU dynamic loss scaling: the contract's arithmetic (kernels/shapes/loss_scale.h), in the GPU
// kernels' order, so both devices agree bit for bit.
#include "kernels/loss_scale.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void scale_gradient(const ScaleGradientShape& s, const float* factor, float* x, const Stream&) {
  s.validate();
  const float f = factor[0];
  const MathPrecision p = s.precision;
#pragma omp parallel for schedule(static) if (s.n >= detail::kParallelMin)
  for (int64_t i = 0; i < s.n; ++i) x[i] = round_to_precision(p, x[i] * f);
}

void loss_scale_update(const LossScaleShape& s, const float* sums, float* state, float* out, const Stream&) {
  s.validate();
  double total = 0.0;
  for (int i = 0; i < s.parts; ++i) total += static_cast<double>(sums[i]);
  loss_scale_step(s, total, state, out);
}

}  // namespace kiln::cpu
