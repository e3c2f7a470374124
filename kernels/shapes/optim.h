// Where: launchers kernels/optim.h (declared once, kernels/optim.inc); GPU kernels/optim.cu; CPU
//        twin cpu_fallback/optim.cpp; no layer: the solvers, tools/train/solver.cpp, through
//        tools/train/device_ops.cpp; parity and bench rows tests/parity/cases_optim.cpp; reference
//        test tests/reference/optim_reference_test.cpp.
//
// Optimiser updates, elementwise over one parameter buffer (PyTorch semantics).
//
// SGD (torch.optim.SGD), step t = 1, 2, ...:
//   g = grad * grad_scale + weight_decay * param        (grad_scale: clipping by norm, else 1)
//   if momentum != 0:
//     buf = (t == 1) ? g : momentum * buf + (1 - dampening) * g
//     g   = nesterov ? g + momentum * buf : buf
//   param -= lr * g
// Adam / AdamW (torch.optim.Adam, torch.optim.AdamW), step t = 1, 2, ...:
//   AdamW (decoupled): param *= 1 - lr * weight_decay;   Adam: g = grad + weight_decay * param
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// A grad_scale that is not finite (NaN, inf) skips the step: param and the optimiser state are left
// as they are. FP16 loss scaling passes NaN for a step whose gradients overflowed
// (kernels/shapes/loss_scale.h), so the skip needs no host read; the host still counts the step
// (Adam's t), as a fused on-device optimiser would.
// The per-step scalars (bias corrections) are computed once on the host in double and passed to
// every element as floats (AdamShape::step_size(), bias2_sqrt()), so all devices agree.
// The state buffers (momentum buf, m, v) are updated in place; start them at zero (SGD's buf is
// overwritten at t == 1).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct SgdShape {
  int64_t count = 1;
  float lr = 0.01f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  int64_t step = 1;  // 1 on the first update
  float grad_scale = 1.0f;  // the gradient is multiplied by this first (clipping by norm)

  int64_t flops() const { return 6 * count; }
  int64_t bytes() const { return 4 * count * (momentum != 0.0f ? 5 : 3); }

  void validate() const {
    KILN_CHECK(count >= 0, "sgd: count={} must be >= 0", count);
    KILN_CHECK(step >= 1, "sgd: step={} must be >= 1 (1 on the first update)", step);
    KILN_CHECK(lr >= 0.0f, "sgd: lr={} must be >= 0", lr);
    KILN_CHECK(momentum >= 0.0f, "sgd: momentum={} must be >= 0", momentum);
    KILN_CHECK(!nesterov || (momentum > 0.0f && dampening == 0.0f),
               "sgd: nesterov needs momentum > 0 and dampening = 0 (momentum={}, dampening={})", momentum,
               dampening);
  }
};

// One SGD element update; buf may be ignored when momentum == 0.
KILN_HD void sgd_element(const SgdShape& s, float& param, float grad, float& buf) {
  float g = grad * s.grad_scale;  // gradient clipping folded in (1: none)
  if (s.weight_decay != 0.0f) g += s.weight_decay * param;
  if (s.momentum != 0.0f) {
    buf = s.step == 1 ? g : s.momentum * buf + (1.0f - s.dampening) * g;
    g = s.nesterov ? g + s.momentum * buf : buf;
  }
  param -= s.lr * g;
}

struct AdamShape {
  int64_t count = 1;
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // false: Adam (L2 in the gradient); true: AdamW
  int64_t step = 1;        // t, 1 on the first update
  float grad_scale = 1.0f;  // the gradient is multiplied by this first (clipping by norm)

  // lr / (1 - beta1^t), in double then rounded.
  float step_size() const { return static_cast<float>(lr / (1.0 - pow(static_cast<double>(beta1), static_cast<double>(step)))); }
  // sqrt(1 - beta2^t).
  float bias2_sqrt() const { return static_cast<float>(sqrt(1.0 - pow(static_cast<double>(beta2), static_cast<double>(step)))); }

  int64_t flops() const { return 12 * count; }
  int64_t bytes() const { return 4 * count * 7; }

  void validate() const {
    KILN_CHECK(count >= 0, "adam: count={} must be >= 0", count);
    KILN_CHECK(step >= 1, "adam: step={} must be >= 1 (1 on the first update)", step);
    KILN_CHECK(lr >= 0.0f, "adam: lr={} must be >= 0", lr);
    KILN_CHECK(beta1 >= 0.0f && beta1 < 1.0f, "adam: beta1={} must be in [0, 1)", beta1);
    KILN_CHECK(beta2 >= 0.0f && beta2 < 1.0f, "adam: beta2={} must be in [0, 1)", beta2);
    KILN_CHECK(eps >= 0.0f, "adam: eps={} must be >= 0", eps);
  }
};

// One Adam/AdamW element update with the host-computed step_size and bias2_sqrt.
KILN_HD void adam_element(const AdamShape& s, float step_size, float bias2_sqrt, float& param, float grad,
                          float& m, float& v) {
  float g = grad * s.grad_scale;  // gradient clipping folded in (1: none)
  if (s.weight_decay != 0.0f) {
    if (s.decoupled)
      param *= 1.0f - s.lr * s.weight_decay;
    else
      g += s.weight_decay * param;
  }
  m = s.beta1 * m + (1.0f - s.beta1) * g;
  v = s.beta2 * v + (1.0f - s.beta2) * g * g;
  const float denom = sqrtf(v) / bias2_sqrt + s.eps;
  param -= step_size * (m / denom);
}

}  // namespace kiln
