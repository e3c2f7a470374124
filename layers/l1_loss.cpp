#include "layers/l1_loss.h"

#include <fmt/format.h>

#include "kernels/activation.h"
#include "kernels/gemm.h"
#include "layers/layer.h"

namespace kiln::layers {

// Built, like MSELoss, from GEMMs with a (1) tensor holding 1.0 and the ReLU kernels, so it needs
// no kernel of its own. With d = prediction - target (count elements):
//   L1:    |d| = relu(d) + relu(-d);  slope s = sign(d) = [relu(d) > 0] - [relu(-d) > 0]
//          (0 at d = 0, as PyTorch); loss = ones . (relu(d) + relu(-d)) / count
//   Huber: s = clamp(d, -delta, delta) = d - relu(d - delta) + relu(-d - delta);
//          loss_i = s d - s² / 2 (d²/2 where |d| <= delta, delta (|d| - delta/2) beyond), so
//          loss = (s . d - s . s / 2) / count
//   dprediction = scale / count * s,  dtarget = -dprediction.

AbsoluteLoss::AbsoluteLoss(std::string name, Kind kind, float delta, float loss_weight)
    : Layer(std::move(name)), kind_(kind), delta_(delta), loss_weight_(loss_weight) {}

Shape AbsoluteLoss::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  return expect_prediction_and_target(*this, inputs, dtypes);
}

void AbsoluteLoss::setup(const std::vector<Shape>&, Device device) { make_one(one_, device); }

std::string AbsoluteLoss::describe() const { return kind_ == Kind::Huber ? fmt::format("delta {}", delta_) : ""; }

Tensor AbsoluteLoss::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &x = *inputs[0], &t = *inputs[1];
  const int count = static_cast<int>(x.numel());
  const Device dev = x.device();
  if (!ones_.defined() || ones_.numel() != count || ones_.device() != dev) {
    const std::vector<float> ones(static_cast<size_t>(count), 1.0f);
    ones_ = Tensor::from_host(std::span<const float>(ones), Shape{count}, dev);
  }
  const float* one = one_.data<float>();
  // y = alpha * v + beta * y over the count elements (v and y distinct).
  auto axpby = [&](float alpha, const Tensor& v, float beta, Tensor& y) {
    const GemmShape s{.m = 1, .n = count, .k = 1, .alpha = alpha, .beta = beta};
    KILN_DISPATCH(dev, gemm, s, one, v.data<float>(), y.data<float>(), stream);
  };
  auto relu = [&](Tensor& y) {
    const ActivationShape s{.count = count, .kind = Activation::Relu, .param = 0.0f};
    KILN_DISPATCH(dev, activation_forward, s, y.data<float>(), y.data<float>(), stream);
  };
  Tensor d = x.clone();
  axpby(-1.0f, t, 1.0f, d);  // d = prediction - target
  Tensor pos = d.clone(), neg = Tensor::empty(x.shape(), dev), slope = Tensor::empty(x.shape(), dev);
  axpby(-1.0f, d, 0.0f, neg);  // -d
  Tensor loss = Tensor::empty(Shape{1}, dev);
  const float inv = 1.0f / static_cast<float>(count);
  if (kind_ == Kind::L1) {
    relu(pos);
    relu(neg);
    const GemmShape sum_pos{.m = 1, .n = 1, .k = count, .alpha = inv};
    const GemmShape sum_neg{.m = 1, .n = 1, .k = count, .alpha = inv, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm, sum_pos, ones_.data<float>(), pos.data<float>(), loss.data<float>(), stream);
    KILN_DISPATCH(dev, gemm, sum_neg, ones_.data<float>(), neg.data<float>(), loss.data<float>(), stream);
    if (training_) {
      // sign(d) = [pos > 0] - [neg > 0]: ReLU's backward of ones at those outputs.
      const ActivationShape s{.count = count, .kind = Activation::Relu, .param = 0.0f};
      Tensor neg_sign = Tensor::empty(x.shape(), dev);
      KILN_DISPATCH(dev, activation_backward, s, pos.data<float>(), ones_.data<float>(), slope.data<float>(), stream);
      KILN_DISPATCH(dev, activation_backward, s, neg.data<float>(), ones_.data<float>(), neg_sign.data<float>(), stream);
      axpby(-1.0f, neg_sign, 1.0f, slope);
    }
  } else {
    const GemmShape shift{.m = 1, .n = count, .k = 1, .alpha = -delta_, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm, shift, one, ones_.data<float>(), pos.data<float>(), stream);  // d - delta
    KILN_DISPATCH(dev, gemm, shift, one, ones_.data<float>(), neg.data<float>(), stream);  // -d - delta
    relu(pos);
    relu(neg);
    axpby(1.0f, d, 0.0f, slope);
    axpby(-1.0f, pos, 1.0f, slope);
    axpby(1.0f, neg, 1.0f, slope);  // clamp(d, -delta, delta)
    const GemmShape sd{.m = 1, .n = 1, .k = count, .alpha = inv};
    const GemmShape ss{.m = 1, .n = 1, .k = count, .alpha = -0.5f * inv, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm, sd, slope.data<float>(), d.data<float>(), loss.data<float>(), stream);
    KILN_DISPATCH(dev, gemm, ss, slope.data<float>(), slope.data<float>(), loss.data<float>(), stream);
  }
  if (training_) slope_ = std::move(slope);
  return loss;
}

void AbsoluteLoss::backward(const BackwardArgs& a) {
  KILN_CHECK(slope_.defined(), "layer '{}' ({}): backward without a training-mode forward", name(), type());
  const int count = static_cast<int>(slope_.numel());
  const float g = a.loss_scale / static_cast<float>(count);
  for (int i = 0; i < 2; ++i) {
    if (!a.grad_inputs[static_cast<size_t>(i)]) continue;
    const GemmShape s{.m = 1, .n = count, .k = 1, .alpha = i == 0 ? g : -g};
    KILN_DISPATCH(slope_.device(), gemm, s, one_.data<float>(), slope_.data<float>(),
                  a.grad_inputs[static_cast<size_t>(i)]->data<float>(), a.stream);
  }
}

}  // namespace kiln::layers
