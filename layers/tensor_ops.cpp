#include "layers/tensor_ops.h"

#include <algorithm>
#include <climits>

#include "core/error.h"
#include "kernels/bias.h"
#include "kernels/convert.h"
#include "kernels/dispatch.h"
#include "kernels/loss_scale.h"

namespace kiln::graph {

void add_into(Tensor& y, const Tensor& x, const Stream& stream) {
  KILN_CHECK(y.numel() == x.numel() && y.device() == x.device(), "add_into: {} += {}: sizes or devices differ",
             y.str(), x.str());
  float* yp = y.data<float>();
  const float* xp = x.data<float>();
  // y[0, c, 0] += bias[c] with C = count, in chunks that fit BiasShape's int.
  for (int64_t begin = 0; begin < y.numel(); begin += INT_MAX) {
    const BiasShape s{.n = 1, .c = static_cast<int>(std::min<int64_t>(INT_MAX, y.numel() - begin)), .inner = 1};
    KILN_DISPATCH(y.device(), bias_add, s, xp + begin, yp + begin, stream);
  }
}

DType activation_dtype(MathPrecision precision) {
  switch (precision) {
    case MathPrecision::BF16: return DType::BF16;
    case MathPrecision::F16: return DType::F16;
    case MathPrecision::F32:
    case MathPrecision::TF32: break;
  }
  return DType::F32;
}

Tensor to_dtype(const Tensor& x, DType dtype, const Stream& stream) {
  if (x.dtype() == dtype) return x.view();
  Tensor y = Tensor::empty(x.shape(), stream, dtype);
  const ConvertShape s{.n = x.numel()};
  const Device d = x.device();
  if (x.dtype() == DType::F32 && dtype == DType::BF16) {
    KILN_DISPATCH(d, f32_to_bf16, s, x.data<float>(), y.data<bf16>(), stream);
  } else if (x.dtype() == DType::F32 && dtype == DType::F16) {
    KILN_DISPATCH(d, f32_to_f16, s, x.data<float>(), y.data<f16>(), stream);
  } else if (x.dtype() == DType::BF16 && dtype == DType::F32) {
    KILN_DISPATCH(d, bf16_to_f32, s, x.data<bf16>(), y.data<float>(), stream);
  } else if (x.dtype() == DType::F16 && dtype == DType::F32) {
    KILN_DISPATCH(d, f16_to_f32, s, x.data<f16>(), y.data<float>(), stream);
  } else {
    fail(format_message("to_dtype: no conversion from {} to {} (F32 <-> BF16/F16 only)", dtype_name(x.dtype()),
                        dtype_name(dtype)));
  }
  return y;
}

void round_in_place(Tensor& x, MathPrecision precision, const Stream& stream) {
  if (precision == MathPrecision::F32) return;
  KILN_DISPATCH(x.device(), round_to_precision, ConvertShape{.n = x.numel()}, precision, x.data<float>(),
                x.data<float>(), stream);
}

void scale_gradient(Tensor& x, const Tensor& factor, MathPrecision precision, const Stream& stream) {
  KILN_CHECK(factor.device() == x.device() && factor.numel() == 1 && factor.dtype() == DType::F32,
             "scale_gradient: the factor must be one float on {}, got {}", x.device().str(), factor.str());
  KILN_DISPATCH(x.device(), scale_gradient, ScaleGradientShape{.n = x.numel(), .precision = precision},
                factor.data<float>(), x.data<float>(), stream);
}

}  // namespace kiln::graph
