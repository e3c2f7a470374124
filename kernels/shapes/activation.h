// Where: launchers kernels/activation.h (declared once, kernels/activation.inc); GPU
//        kernels/activation.cu; CPU twin cpu_fallback/activation.cpp; layer
//        layers/activation.{h,cpp}; also the RNN cell's backward (kernels/rnn.cu,
//        cpu_fallback/rnn.cpp); parity and bench rows tests/parity/cases_activation.cpp; reference
//        test tests/reference/activation_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp and tests/layers/layer_test.cpp (the layers).
//
// ActivationShape: elementwise activations over `count` elements.
//
//   relu        y = max(x, 0)                       f' = [y > 0]
//   leaky_relu  y = x > 0 ? x : param*x (slope>=0)  f' = y > 0 ? 1 : param
//   elu         y = x > 0 ? x : param*(e^x - 1)     f' = y > 0 ? 1 : y + param   (alpha = param > 0)
//   sigmoid     y = 1 / (1 + e^-x)                  f' = y * (1 - y)
//   tanh        y = tanh(x)                         f' = 1 - y^2
// Every backward is computed from the OUTPUT y (which is why leaky_relu needs slope >= 0 and elu
// alpha > 0: then y > 0 exactly when x > 0). So the forward may run in place (y == x) and the
// backward may run in place (dx == dy). At the kink x = 0 the derivative is the left one (0 for
// relu, slope for leaky_relu, alpha for elu), as PyTorch.
// Gradient convention: dx is WRITTEN (=).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

enum class Activation : int { Relu = 0, LeakyRelu = 1, Elu = 2, Sigmoid = 3, Tanh = 4 };

KILN_HD const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Relu: return "relu";
    case Activation::LeakyRelu: return "leaky_relu";
    case Activation::Elu: return "elu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
  }
  return "unknown";
}

// y = f(x).
KILN_HD float activation_apply(Activation a, float param, float x) {
  switch (a) {
    case Activation::Relu: return x > 0.0f ? x : 0.0f;
    case Activation::LeakyRelu: return x > 0.0f ? x : param * x;
    case Activation::Elu: return x > 0.0f ? x : param * expm1f(x);
    case Activation::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case Activation::Tanh: return tanhf(x);
  }
  return x;
}

// f'(x) expressed through y = f(x).
KILN_HD float activation_grad_from_y(Activation a, float param, float y) {
  switch (a) {
    case Activation::Relu: return y > 0.0f ? 1.0f : 0.0f;
    case Activation::LeakyRelu: return y > 0.0f ? 1.0f : param;
    case Activation::Elu: return y > 0.0f ? 1.0f : y + param;
    case Activation::Sigmoid: return y * (1.0f - y);
    case Activation::Tanh: return 1.0f - y * y;
  }
  return 1.0f;
}

struct ActivationShape {
  int64_t count = 1;
  Activation kind = Activation::Relu;
  float param = 0.0f;  // leaky_relu: negative slope (PyTorch default 0.01); elu: alpha (default 1)

  int64_t flops() const { return count; }
  int64_t bytes() const { return 8 * count; }

  void validate() const {
    KILN_CHECK(count >= 0, "{}: count={} must be >= 0", activation_name(kind), count);
    KILN_CHECK(static_cast<int>(kind) >= 0 && static_cast<int>(kind) <= 4, "activation: unknown kind {}",
               static_cast<int>(kind));
    if (kind == Activation::LeakyRelu)
      KILN_CHECK(param >= 0.0f, "leaky_relu: negative_slope={} must be >= 0 (backward reads y)", param);
    if (kind == Activation::Elu)
      KILN_CHECK(param > 0.0f, "elu: alpha={} must be > 0 (backward reads y)", param);
  }
};

}  // namespace kiln
