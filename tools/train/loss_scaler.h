// Dynamic loss scaling for FP16 mixed precision ([train] precision = "fp16"): FP16's smallest
// normal is 6e-5, so small activation gradients would flush to zero; the loss gradient is
// multiplied by a scale S before backward (Net::backward(&scale())), and the optimisers divide it
// out again (grad_scale() = 1/S, times clipping's factor). A step whose gradients overflowed (inf
// or NaN anywhere) is skipped and S halved; after growth_interval good steps in a row S doubles.
// Everything happens on the device (kernels/shapes/loss_scale.h): no host read per step. The
// host reads the state only for log lines and checkpoints (state(), set_state()).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "layers/net.h"

namespace kiln {

struct LossScaleSettings {
  double initial_scale = 65536.0;  // 2^16, PyTorch GradScaler's default
  int growth_interval = 2000;
  double max_norm = 0.0;           // clipping by global norm of the unscaled gradients (0: off)
};

class LossScaler {
 public:
  LossScaler(Net& net, const LossScaleSettings& settings);

  // After backward: the scaled gradients' sums of squares, then the scaler's step on the device.
  void queue();
  const Tensor& scale() const { return scale_; }  // (1): S, what Net::backward multiplies by
  const Tensor& grad_scale() const { return out_; }  // (2): the optimisers' factor (NaN: skip), the norm

  // The state as the host sees it (a device read: waits for the queued steps).
  struct State {
    double scale = 0;
    int64_t good_steps = 0, skipped_steps = 0;
  };
  State read() const;
  // The (3) float tensor a checkpoint stores ("train.loss_scaler") and restores.
  Tensor& state_tensor() { return state_; }

 private:
  Net& net_;
  LossScaleSettings settings_;
  Tensor sums_;   // (parameters)
  Tensor state_;  // (kLossScaleSlots): S, good steps, skipped steps
  Tensor scale_;  // (1): a view of state_[kLossScale]
  Tensor out_;    // (2)
};

// The sum of squares of every parameter gradient of `net`, one float each into sums[0..count),
// queued on the net's stream; returns the count (GradientClipper and LossScaler share it).
int queue_gradient_sums(Net& net, float* sums);

}  // namespace kiln
