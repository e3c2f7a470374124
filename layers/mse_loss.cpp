#include "layers/mse_loss.h"

#include <fmt/format.h>

#include "kernels/gemm.h"
#include "layers/layer.h"

namespace kiln::layers {

// Built from GEMMs with a (1) tensor holding 1.0 (`one_`), so it needs no kernel of its own:
//   diff = prediction - target         gemm 1 x count x 1: diff = -1 * one * target + 1 * diff
//   loss = diff . diff / count         gemm 1 x 1 x count
//   dprediction = 2 * scale / count * diff,  dtarget = -dprediction   (gemm 1 x count x 1, beta 0)

MseLoss::MseLoss(std::string name, float loss_weight) : Layer(std::move(name)), loss_weight_(loss_weight) {}

Shape MseLoss::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  return expect_prediction_and_target(*this, inputs, dtypes);
}

void MseLoss::setup(const std::vector<Shape>&, Device device) { make_one(one_, device); }

Tensor MseLoss::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &x = *inputs[0], &t = *inputs[1];
  const int count = static_cast<int>(x.numel());
  const Device d = x.device();
  Tensor diff = x.clone();
  const GemmShape sub{.m = 1, .n = count, .k = 1, .alpha = -1.0f, .beta = 1.0f};
  KILN_DISPATCH(d, gemm, sub, one_.data<float>(), t.data<float>(), diff.data<float>(), stream);
  Tensor loss = Tensor::empty(Shape{1}, d);
  const GemmShape dot{.m = 1, .n = 1, .k = count, .alpha = 1.0f / static_cast<float>(count)};
  KILN_DISPATCH(d, gemm, dot, diff.data<float>(), diff.data<float>(), loss.data<float>(), stream);
  if (training_) diff_ = std::move(diff);
  return loss;
}

void MseLoss::backward(const BackwardArgs& a) {
  KILN_CHECK(diff_.defined(), "layer '{}' (MSELoss): backward without a training-mode forward", name());
  const int count = static_cast<int>(diff_.numel());
  const float g = 2.0f * a.loss_scale / static_cast<float>(count);
  for (int i = 0; i < 2; ++i) {
    if (!a.grad_inputs[static_cast<size_t>(i)]) continue;
    const GemmShape s{.m = 1, .n = count, .k = 1, .alpha = i == 0 ? g : -g};
    KILN_DISPATCH(diff_.device(), gemm, s, one_.data<float>(), diff_.data<float>(),
                  a.grad_inputs[static_cast<size_t>(i)]->data<float>(), a.stream);
  }
}

}  // namespace kiln::layers
