#include "tools/train/loss_scaler.h"

#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/loss_scale.h"
#include "kernels/reduce.h"

namespace kiln {

int queue_gradient_sums(Net& net, float* sums) {
  const Device device = net.device();
  const Stream& stream = net.stream();
  int parts = 0;
  for (const Net::ParamRef& p : net.parameters()) {
    const Tensor& g = p.param->grad;
    KILN_DISPATCH(device, reduce_sum_squares, ReduceShape{g.numel()}, g.data<float>(), sums + parts, stream);
    ++parts;
  }
  return parts;
}

LossScaler::LossScaler(Net& net, const LossScaleSettings& settings)
    : net_(net),
      settings_(settings),
      sums_(Tensor::zeros({static_cast<int64_t>(net.parameters().size())}, net.device())),
      out_(Tensor::zeros({2}, net.device())) {
  KILN_CHECK(settings.initial_scale >= 1.0 && settings.initial_scale <= 16777216.0,
             "loss scale {} must be in [1, 2^24]", settings.initial_scale);
  const std::vector<float> start = {static_cast<float>(settings.initial_scale), 0.0f, 0.0f};
  state_ = Tensor::from_host(start, Shape{kLossScaleSlots}, net.device());
  scale_ = state_.slice(kLossScale, kLossScale + 1);
}

void LossScaler::queue() {
  const int parts = queue_gradient_sums(net_, sums_.data<float>());
  const LossScaleShape shape{.parts = parts, .growth_interval = settings_.growth_interval,
                             .max_norm = settings_.max_norm};
  KILN_DISPATCH(net_.device(), loss_scale_update, shape, sums_.data<float>(), state_.data<float>(),
                out_.data<float>(), net_.stream());
}

LossScaler::State LossScaler::read() const {
  const std::vector<float> v = state_.to_host();
  return State{.scale = v[kLossScale],
               .good_steps = static_cast<int64_t>(v[kGoodSteps]),
               .skipped_steps = static_cast<int64_t>(v[kSkippedSteps])};
}

}  // namespace kiln
