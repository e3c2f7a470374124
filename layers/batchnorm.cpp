// BatchNorm1d / BatchNorm2d (declared and documented in layers/batchnorm.h).
#include "layers/batchnorm.h"

#include <fmt/format.h>

#include "kernels/batchnorm.h"
#include "kernels/dispatch.h"
#include "layers/layer.h"

namespace kiln::layers {

BatchNorm::BatchNorm(std::string name, BatchNormOptions options) : Layer(std::move(name)), opt_(options) {}

BatchNormShape BatchNorm::shape_for(const Shape& x) const {
  BatchNormShape s;
  s.n = static_cast<int>(x[0]);
  s.c = static_cast<int>(x[1]);
  s.inner = x.rank() == 4 ? x[2] * x[3] : x.rank() == 3 ? x[2] : 1;
  s.eps = opt_.eps;
  s.momentum = opt_.momentum;
  return s;
}

Shape BatchNorm::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  expect_one_float(*this, inputs, dtypes);
  const Shape& x = inputs[0];
  const bool ok = opt_.rank == 4 ? x.rank() == 4 : (x.rank() == 2 || x.rank() == 3);
  if (!ok)
    layer_error(*this, fmt::format("expects input {}, got {}", opt_.rank == 4 ? "(N, C, H, W)" : "(N, C) or (N, C, L)",
                                   x.str()));
  if (opt_.num_features > 0 && x[1] != opt_.num_features)
    layer_error(*this, fmt::format("expects {} channels (num_features), got input {}", opt_.num_features, x.str()));
  to_int(*this, x[0], "N");
  to_int(*this, x[1], "C");
  validate_for(*this, shape_for(x));
  return x;
}

void BatchNorm::setup(const std::vector<Shape>& inputs, Device device) {
  if (!params_.empty() || !buffers_.empty()) return;
  opt_.num_features = static_cast<int>(inputs[0][1]);
  const Shape c{opt_.num_features};
  if (opt_.affine) {
    for (auto [name, value] : {std::pair{"weight", 1.0}, std::pair{"bias", 0.0}}) {
      params_.push_back(Parameter{.name = name,
                                  .value = Tensor::empty(c, device),
                                  .grad = Tensor::zeros(c, device),
                                  .init = Init{InitKind::Constant, value},
                                  .fan_in = 1,
                                  .fan_out = 1});
    }
  }
  if (opt_.track_running_stats) {
    buffers_.push_back({"running_mean", Tensor::zeros(c, device)});
    buffers_.push_back({"running_var", Tensor::empty(c, device)});
    init_buffers(Stream::default_for(device));
  }
}

void BatchNorm::init_buffers(const Stream& stream) {
  if (buffers_.empty()) return;
  buffers_[0].value.fill_zero(stream);
  const std::vector<float> ones(static_cast<size_t>(opt_.num_features), 1.0f);
  buffers_[1].value.copy_from(Tensor::from_host(std::span<const float>(ones), Shape{opt_.num_features}), stream);
}

Tensor BatchNorm::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const Device dev = x.device();
  const BatchNormShape s = shape_for(x.shape());
  const float* gamma = opt_.affine ? params_[0].value.data<float>() : nullptr;
  const float* beta = opt_.affine ? params_[1].value.data<float>() : nullptr;
  Tensor y = Tensor::empty(x.shape(), dev);
  if (!training_ && opt_.track_running_stats) {
    KILN_DISPATCH(dev, batchnorm_forward_eval, s, x.data<float>(), gamma, beta, buffers_[0].value.data<float>(),
                  buffers_[1].value.data<float>(), y.data<float>(), stream);
    return y;
  }
  if (s.count() < 2)
    layer_error(*this, fmt::format("normalises over the batch, which needs more than 1 value per channel; got input "
                                   "{} (evaluate with set_training(false) to use the running statistics)",
                                   x.shape().str()));
  Tensor mean = Tensor::empty(Shape{s.c}, dev), invstd = Tensor::empty(Shape{s.c}, dev);
  // The running statistics move in training only (PyTorch's eval mode without them uses the batch's).
  const bool update = training_ && opt_.track_running_stats;
  KILN_DISPATCH(dev, batchnorm_forward_train, s, x.data<float>(), gamma, beta, y.data<float>(), mean.data<float>(),
                invstd.data<float>(), update ? buffers_[0].value.data<float>() : nullptr,
                update ? buffers_[1].value.data<float>() : nullptr, stream);
  if (training_) {
    mean_ = std::move(mean);
    invstd_ = std::move(invstd);
  }
  return y;
}

void BatchNorm::backward(const BackwardArgs& a) {
  if (!mean_.defined()) layer_error(*this, "backward without a training forward (set_training(true) first)");
  const Tensor& x = *a.inputs[0];
  const BatchNormShape s = shape_for(x.shape());
  Tensor scratch;  // dx is always computed with the parameter gradients; kept only if wanted
  float* dx = a.grad_inputs[0] ? a.grad_inputs[0]->data<float>() : nullptr;
  if (!dx) {
    scratch = Tensor::empty(x.shape(), a.stream);
    dx = scratch.data<float>();
  }
  KILN_DISPATCH(x.device(), batchnorm_backward, s, x.data<float>(), opt_.affine ? params_[0].value.data<float>() : nullptr,
                mean_.data<float>(), invstd_.data<float>(), a.grad_output->data<float>(), dx,
                opt_.affine ? params_[0].grad.data<float>() : nullptr,
                opt_.affine ? params_[1].grad.data<float>() : nullptr, a.stream);
}

void BatchNorm::release_saved() {
  mean_ = Tensor();
  invstd_ = Tensor();
}

std::string BatchNorm::describe() const {
  return fmt::format("{} channels, eps {:g}, momentum {:g}{}{}", opt_.num_features, opt_.eps, opt_.momentum,
                     opt_.affine ? "" : ", no affine", opt_.track_running_stats ? "" : ", batch statistics only");
}

}  // namespace kiln::layers
