// Where: launchers kernels/loss_scale.h (declared once, kernels/loss_scale.inc); GPU
//        kernels/loss_scale.cu; CPU twin cpu_fallback/loss_scale.cpp; no layer: the graph scales
//        the loss gradient (layers/net.cpp) and the trainer keeps the scaler
//        (tools/train/loss_scaler.{h,cpp}); parity rows tests/parity/cases_loss_scale.cpp.
//
// Dynamic loss scaling for FP16 training (the rule of NVIDIA's mixed-precision training guide and
// PyTorch's GradScaler), kept on the device so a step needs no host read.
//
// scale_gradient: x[i] = round_to_precision(p, x[i] * factor[0]) for i < n. The graph multiplies the
//   loss layers' input gradients by the loss scale S before they flow back in 16-bit precision
//   (so small gradients do not flush to zero), and rounds them as a 16-bit tensor would hold them.
//
// loss_scale_update: one step of the scaler, from the per-tensor sums of squares of the SCALED
//   parameter gradients (floats, as reduce_sum_squares writes them). state (3 floats):
//   [0] S, the loss scale   [1] good steps since the last change   [2] steps skipped in total.
//     total = sum_i double(sums[i])            (in the order i = 0, 1, ...)
//     not finite (a gradient overflowed, or is NaN):
//       out[0] = NaN (the optimisers skip a step whose grad_scale is not finite: kernels/optim.inc)
//       out[1] = NaN; S = max(S * backoff, min_scale); good = 0; skipped += 1
//     finite:
//       norm = sqrt(total) / S                 (the global norm of the true gradients)
//       out[0] = 1/S, times max_norm / (norm + eps) when clipping (max_norm > 0) and norm > max_norm
//       out[1] = norm; good += 1; if good == growth_interval: S = min(S * growth, max_scale), good = 0
//   out[0] is what the optimisers multiply the gradients by (unscale and clip in one factor).
//   All in double on one thread: the same bits on every device.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "core/hd.h"
#include "kernels/shapes/precision.h"

namespace kiln {

// Slots of the scaler's device state.
enum LossScaleSlot : int { kLossScale = 0, kGoodSteps, kSkippedSteps, kLossScaleSlots };

struct ScaleGradientShape {
  int64_t n = 0;
  MathPrecision precision = MathPrecision::F32;
  int64_t flops() const { return n; }
  int64_t bytes() const { return 8 * n; }
  void validate() const { KILN_CHECK(n >= 0, "scale_gradient: n = {} must not be negative", n); }
};

struct LossScaleShape {
  int parts = 0;             // sums of squares to add (one per parameter gradient)
  int growth_interval = 2000;
  double growth = 2.0, backoff = 0.5;
  double min_scale = 1.0, max_scale = 16777216.0;  // 2^24: keeps S * gradient inside FP32's range
  double max_norm = 0.0;     // clip by global norm when > 0
  double eps = 1e-6;
  int64_t flops() const { return parts + 8; }
  int64_t bytes() const { return 4 * (static_cast<int64_t>(parts) + kLossScaleSlots * 2 + 2); }
  void validate() const {
    KILN_CHECK(parts >= 0, "loss_scale_update: parts={} must be >= 0", parts);
    KILN_CHECK(growth_interval >= 1, "loss_scale_update: growth_interval={} must be >= 1", growth_interval);
    KILN_CHECK(growth >= 1.0 && backoff > 0.0 && backoff <= 1.0,
               "loss_scale_update: growth={} must be >= 1 and backoff={} in (0, 1]", growth, backoff);
    KILN_CHECK(min_scale > 0.0 && max_scale >= min_scale, "loss_scale_update: scale bounds [{}, {}] are invalid",
               min_scale, max_scale);
    KILN_CHECK(max_norm >= 0.0 && eps >= 0.0, "loss_scale_update: max_norm={} and eps={} must be >= 0", max_norm, eps);
  }
};

// loss_scale_update's rule from the summed squares `total` (the contract above), shared by the GPU
// kernel and the CPU twin so both do the same double arithmetic in the same order.
KILN_HD void loss_scale_step(const LossScaleShape& s, double total, float* state, float* out) {
  const double scale = state[kLossScale];
  if (!(total - total == 0.0)) {  // NaN or inf
    out[0] = out[1] = std::numeric_limits<float>::quiet_NaN();  // one bit pattern on every device
    const double lowered = scale * s.backoff;
    state[kLossScale] = static_cast<float>(lowered > s.min_scale ? lowered : s.min_scale);
    state[kGoodSteps] = 0.0f;
    state[kSkippedSteps] += 1.0f;
    return;
  }
  const double norm = sqrt(total) / scale;
  double factor = 1.0 / scale;
  if (s.max_norm > 0.0 && norm > s.max_norm) factor *= s.max_norm / (norm + s.eps);
  out[0] = static_cast<float>(factor);
  out[1] = static_cast<float>(norm);
  const float good = state[kGoodSteps] + 1.0f;
  if (good >= static_cast<float>(s.growth_interval)) {
    const double raised = scale * s.growth;
    state[kLossScale] = static_cast<float>(raised < s.max_scale ? raised : s.max_scale);
    state[kGoodSteps] = 0.0f;
  } else {
    state[kGoodSteps] = good;
  }
}

}  // namespace kiln
