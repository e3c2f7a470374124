// Solvers: SGD (momentum, Nesterov, weight decay) and Adam/AdamW (PyTorch semantics, see
// kernels/shapes/optim.h), updating every parameter of a Net on its device with the fused
// elementwise kernels (kiln::gpu) or their CPU twins (kiln::cpu). Gradient clipping by global
// norm is folded into the update (grad_scale), so it costs one reduction and no extra pass.
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
  // `grad_scale` first. Counts the step (the Adam bias correction uses it).
  void step(double lr, float grad_scale = 1.0f);
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

// The global L2 norm of every parameter gradient of the net (double accumulation).
double gradient_norm(Net& net);

}  // namespace kiln
