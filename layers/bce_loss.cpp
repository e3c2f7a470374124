#include "layers/bce_loss.h"

#include "kernels/bce.h"
#include "kernels/gemm.h"
#include "layers/layer.h"

namespace kiln::layers {

// The bce kernel writes the per-element terms (and, training, their slopes dp and dt); the rest
// is GEMMs with 1.0 operands, as in MSELoss:
//   loss = ones . terms / count                                  gemm 1 x 1 x count
//   dprediction = scale / count * dp,  dtarget = scale / count * dt   gemm 1 x count x 1, beta 0

BceLoss::BceLoss(std::string name, float loss_weight) : Layer(std::move(name)), loss_weight_(loss_weight) {}

Shape BceLoss::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  return expect_prediction_and_target(*this, inputs, dtypes);
}

void BceLoss::setup(const std::vector<Shape>&, Device device) { make_one(one_, device); }

Tensor BceLoss::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &p = *inputs[0], &t = *inputs[1];
  const int count = static_cast<int>(p.numel());
  const Device dev = p.device();
  if (!ones_.defined() || ones_.numel() != count || ones_.device() != dev) {
    const std::vector<float> ones(static_cast<size_t>(count), 1.0f);
    ones_ = Tensor::from_host(std::span<const float>(ones), Shape{count}, dev);
  }
  Tensor terms = Tensor::empty(p.shape(), dev);
  Tensor dp, dt;
  if (training_) {
    dp = Tensor::empty(p.shape(), dev);
    dt = Tensor::empty(p.shape(), dev);
  }
  const BceShape s{.count = count};
  KILN_DISPATCH(dev, bce_forward, s, p.data<float>(), t.data<float>(), terms.data<float>(),
                training_ ? dp.data<float>() : nullptr, training_ ? dt.data<float>() : nullptr, stream);
  Tensor loss = Tensor::empty(Shape{1}, dev);
  const GemmShape sum{.m = 1, .n = 1, .k = count, .alpha = 1.0f / static_cast<float>(count)};
  KILN_DISPATCH(dev, gemm, sum, ones_.data<float>(), terms.data<float>(), loss.data<float>(), stream);
  if (training_) {
    dp_ = std::move(dp);
    dt_ = std::move(dt);
  }
  return loss;
}

void BceLoss::backward(const BackwardArgs& a) {
  KILN_CHECK(dp_.defined(), "layer '{}' (BCELoss): backward without a training-mode forward", name());
  const int count = static_cast<int>(dp_.numel());
  const float g = a.loss_scale / static_cast<float>(count);
  const Tensor* slopes[2] = {&dp_, &dt_};
  for (size_t i = 0; i < 2; ++i) {
    if (!a.grad_inputs[i]) continue;
    const GemmShape s{.m = 1, .n = count, .k = 1, .alpha = g};
    KILN_DISPATCH(dp_.device(), gemm, s, one_.data<float>(), slopes[i]->data<float>(), a.grad_inputs[i]->data<float>(),
                  a.stream);
  }
}

}  // namespace kiln::layers
