// Where: launchers kernels/batchnorm.h (declared once, kernels/batchnorm.inc); GPU
//        kernels/batchnorm.cu; CPU twin cpu_fallback/batchnorm.cpp; parity, bench and gradient rows
//        tests/parity/cases_batchnorm.cpp.
//
// BatchNormShape: batch normalisation per channel, PyTorch's nn.BatchNorm1d / nn.BatchNorm2d.
//
// Layout: x, y, dy, dx (N, C, inner): inner = H*W for BatchNorm2d, L (or 1) for BatchNorm1d; the
// per-channel vectors gamma, beta, mean, invstd, running_mean, running_var (C). Per channel c over
// its count() = N*inner values:
//   training    mean = sum x / count,  var = sum (x - mean)^2 / count   (biased: normalises)
//               invstd = 1 / sqrt(var + eps);  y = (x - mean) * invstd * gamma + beta
//               running_mean = (1 - momentum) running_mean + momentum mean
//               running_var  = (1 - momentum) running_var  + momentum var * count / (count - 1)
//                                                                      (unbiased, as PyTorch keeps it)
//   evaluation  y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta
// Backward of the training forward (xhat = (x - mean) * invstd):
//   dbeta += sum dy,  dgamma += sum dy * xhat                      (parameter gradients ACCUMULATE)
//   dx = gamma * invstd / count * (count * dy - sum dy - xhat * sum dy * xhat)          (WRITTEN)
// gamma and beta may be nullptr (affine = false: 1 and 0); the running statistics too (not tracked).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct BatchNormShape {
  int n = 1, c = 1;
  int64_t inner = 1;
  float eps = 1e-5f;
  float momentum = 0.1f;

  KILN_HD int64_t count() const { return static_cast<int64_t>(n) * inner; }
  KILN_HD int64_t x_size() const { return count() * c; }

  int64_t flops() const { return 8 * x_size(); }
  int64_t bytes() const { return 4 * 3 * x_size(); }  // training forward: x read twice, y written

  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1 && inner >= 1, "batchnorm: input (N, C, inner) = ({}, {}, {}) must be positive", n,
               c, inner);
    KILN_CHECK(count() <= INT32_MAX, "batchnorm: {} values per channel exceed the kernels' 32-bit indexing",
               count());
    KILN_CHECK(eps > 0.0f, "batchnorm: eps={} must be > 0", eps);
    KILN_CHECK(momentum >= 0.0f && momentum <= 1.0f, "batchnorm: momentum={} must be in [0, 1]", momentum);
  }
  // Batch statistics need two values per channel (PyTorch refuses one, whose variance is 0/0).
  void validate_training() const {
    validate();
    KILN_CHECK(count() > 1, "batchnorm: training needs more than 1 value per channel, got input (N, C, inner) = "
               "({}, {}, {})", n, c, inner);
  }
};

}  // namespace kiln
