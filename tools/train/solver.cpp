#include "tools/train/solver.h"

#include <cmath>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/train_stats.h"
#include "tools/train/device_ops.h"
#include "tools/train/loss_scaler.h"

namespace kiln {

Solver::Solver(const SolverConfig& config, Net& net) : config_(config) {
  for (const Net::ParamRef& p : net.parameters()) {
    Slot slot{p, {}, {}};
    const Shape& shape = p.param->value.shape();
    const Device device = p.param->value.device();
    if (config_.type == "sgd") {
      if (config_.momentum != 0.0) slot.a = Tensor::zeros(shape, device);
    } else {
      slot.a = Tensor::zeros(shape, device);
      slot.b = Tensor::zeros(shape, device);
    }
    slots_.push_back(std::move(slot));
  }
}

void Solver::step(double lr, float grad_scale, const Tensor* device_scale) {
  const float* scale = device_scale ? device_scale->data<float>() : nullptr;
  ++steps_;
  for (Slot& s : slots_) {
    Parameter& p = *s.param.param;
    const Stream stream = Stream::default_for(p.value.device());
    if (config_.type == "sgd") {
      SgdShape shape;
      shape.count = p.value.numel();
      shape.lr = static_cast<float>(lr);
      shape.momentum = static_cast<float>(config_.momentum);
      shape.dampening = static_cast<float>(config_.dampening);
      shape.weight_decay = static_cast<float>(config_.weight_decay);
      shape.nesterov = config_.nesterov;
      shape.step = steps_;
      shape.grad_scale = grad_scale;
      train_ops::sgd_update(shape, p.value, p.grad, s.a.defined() ? &s.a : nullptr, scale, stream);
    } else {
      AdamShape shape;
      shape.count = p.value.numel();
      shape.lr = static_cast<float>(lr);
      shape.beta1 = static_cast<float>(config_.beta1);
      shape.beta2 = static_cast<float>(config_.beta2);
      shape.eps = static_cast<float>(config_.eps);
      shape.weight_decay = static_cast<float>(config_.weight_decay);
      shape.decoupled = config_.type == "adamw";
      shape.step = steps_;
      shape.grad_scale = grad_scale;
      train_ops::adam_update(shape, p.value, p.grad, s.a, s.b, scale, stream);
    }
  }
}

std::vector<Solver::StateRef> Solver::state() {
  std::vector<StateRef> out;
  for (Slot& s : slots_) {
    if (config_.type == "sgd") {
      if (s.a.defined()) out.push_back({s.param.name + ".momentum_buffer", &s.a});
    } else {
      out.push_back({s.param.name + ".exp_avg", &s.a});
      out.push_back({s.param.name + ".exp_avg_sq", &s.b});
    }
  }
  return out;
}

double gradient_norm(Net& net) {
  double sum = 0;
  for (const Net::ParamRef& p : net.parameters()) {
    sum += train_ops::sum_squares(p.param->grad, Stream::default_for(p.param->grad.device()));
  }
  return std::sqrt(sum);
}

GradientClipper::GradientClipper(Net& net, double max_norm)
    : net_(net),
      max_norm_(max_norm),
      sums_(Tensor::zeros({static_cast<int64_t>(net.parameters().size())}, net.device())),
      scale_(Tensor::zeros({2}, net.device())) {}

void GradientClipper::queue() {
  float* sums = sums_.data<float>();
  const int parts = queue_gradient_sums(net_, sums);
  KILN_DISPATCH(net_.device(), clip_scale, ClipShape{.parts = parts, .max_norm = max_norm_}, sums,
                scale_.data<float>(), net_.stream());
}

}  // namespace kiln
