// CPU dynamic loss scaling: the contract's arithmetic (kernels/shapes/loss_scale.h), in the GPU
// kernels' order, so both devices agree bit for bit.
#include "kernels/loss_scale.h"

#include <algorithm>
#include <cmath>
#include <limits>

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
  const double scale = state[kLossScale];
  if (!std::isfinite(total)) {
    out[0] = out[1] = std::numeric_limits<float>::quiet_NaN();
    state[kLossScale] = static_cast<float>(std::max(scale * s.backoff, s.min_scale));
    state[kGoodSteps] = 0.0f;
    state[kSkippedSteps] += 1.0f;
    return;
  }
  const double norm = std::sqrt(total) / scale;
  double factor = 1.0 / scale;
  if (s.max_norm > 0.0 && norm > s.max_norm) factor *= s.max_norm / (norm + s.eps);
  out[0] = static_cast<float>(factor);
  out[1] = static_cast<float>(norm);
  const float good = state[kGoodSteps] + 1.0f;
  if (good >= static_cast<float>(s.growth_interval)) {
    state[kLossScale] = static_cast<float>(std::min(scale * s.growth, s.max_scale));
    state[kGoodSteps] = 0.0f;
  } else {
    state[kGoodSteps] = good;
  }
}

}  // namespace kiln::cpu
