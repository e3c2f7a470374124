// Solvers: SGD (momentum, Nesterov, weight decay) and Adam/AdamW (PyTorch semantics, see
// kernels/shapes/optim.h), updating every parameter of a Net on its device with the fused
// elementwise kernels (kiln::gpu) or their CPU twins (kiln::cpu). Gradient clipping by global
// norm is folded into the update (grad_scale), so it costs one reduction and no extra pass; the
// GradientClipper computes the scale on the device and the update reads it from there, so
// clipping makes no host read either.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "layers/net.h"

namespace kiln {

class Solver {
 public:
  Solver(const SolverConfig& config, Net& net);

  // One update of every parameter with learning rate `lr`; gradients are multiplied by
  // `grad_scale` first, or by device_scale[0] (a tensor on the net's device, e.g.
  // GradientClipper::scale()) when given. Counts the step (the Adam bias correction uses it).
  void step(double lr, float grad_scale = 1.0f, const Tensor* device_scale = nullptr);
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

  // The optimiser's state tensors, named as PyTorch's optimizers do per parameter:
  // "<param>.momentum_buffer" (SGD), "<param>.exp_avg" and "<param>.exp_avg_sq" (Adam).
  struct StateRef {
    std::string name;
    Tensor* tensor;
  };
  std::vector<StateRef> state();

 private:
  struct Slot {
    Net::ParamRef param;
    Tensor a, b;  // SGD: momentum buffer (a); Adam: m (a), v (b)
  };
  SolverConfig config_;
  std::vector<Slot> slots_;
  int64_t steps_ = 0;
};

// The global L2 norm of every parameter gradient of the net (double accumulation), read to the host.
double gradient_norm(Net& net);

// Clipping by global norm without a host read: queue() puts the sum of squares of every parameter
// gradient into a device buffer (one float each, as gradient_norm reads them), then clip_scale
// (kernels/shapes/train_stats.h) turns them into scale()[0] = max_norm / (norm + 1e-6) when the
// norm exceeds max_norm, else 1, and scale()[1] = the norm: the same numbers gradient_norm and the
// host rule gave, bit for bit.
class GradientClipper {
 public:
  GradientClipper(Net& net, double max_norm);
  void queue();
  const Tensor& scale() const { return scale_; }  // (2) on the net's device: scale, norm

 private:
  Net& net_;
  double max_norm_;
  Tensor sums_;   // (parameters) float
  Tensor scale_;  // (2) float
};

}  // namespace kiln
