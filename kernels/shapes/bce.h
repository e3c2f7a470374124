// Where: launchers kernels/bce.h (declared once, kernels/bce.inc); GPU kernels/bce.cu; CPU twin
//        cpu_fallback/bce.cpp; layer layers/bce_loss.{h,cpp} (BCELoss); parity rows
//        tests/parity/cases_bce.cpp; reference test tests/reference/bce_reference_test.cpp.
//
// BceShape: binary cross-entropy of `count` probabilities p against targets t, elementwise, as
// PyTorch's nn.BCELoss (aten binary_cross_entropy): the logs are clamped at -100, so p = 0 or 1
// costs at most 100 instead of inf, and the slope's denominator at 1e-12 (PyTorch's EPSILON):
//   loss_i = (t - 1) max(log1p(-p), -100) - t max(log p, -100)
//   dp_i   = (p - t) / max(p (1 - p), 1e-12)          d loss_i / d p_i
//   dt_i   = max(log1p(-p), -100) - max(log p, -100)   d loss_i / d t_i (the clamped logit, negated)
// p outside [0, 1] gives NaN (no check on the device; PyTorch refuses it). The mean over the terms
// and the loss scale are the layer's (GEMMs). Outputs are WRITTEN (=).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

// log p and log(1 - p), each clamped at -100.
KILN_HD float bce_log(float p) { return fmaxf(logf(p), -100.0f); }
KILN_HD float bce_log1m(float p) { return fmaxf(log1pf(-p), -100.0f); }

KILN_HD float bce_term(float p, float t) { return (t - 1.0f) * bce_log1m(p) - t * bce_log(p); }
KILN_HD float bce_slope(float p, float t) { return (p - t) / fmaxf(p * (1.0f - p), 1e-12f); }
KILN_HD float bce_target_slope(float p) { return bce_log1m(p) - bce_log(p); }

struct BceShape {
  int64_t count = 1;

  int64_t flops() const { return 12 * count; }
  int64_t bytes() const { return 20 * count; }  // p, t in; loss, dp, dt out

  void validate() const { KILN_CHECK(count >= 0, "bce: count={} must be >= 0", count); }
};

}  // namespace kiln
