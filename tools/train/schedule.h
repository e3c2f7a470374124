// Learning-rate schedules (ScheduleConfig in core/config/config.h), as a pure function of the step
// so a resumed run follows exactly the same curve.
//   constant   lr
//   step       lr * gamma^floor(epoch / step_size)
//   multistep  lr * gamma^(number of milestones <= epoch)
//   cosine     min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2, t and T counted after warm-up
// With warmup_steps = W > 0, step s < W uses lr * (s + 1) / W instead (linear warm-up).
#pragma once

#include <cstdint>

#include "core/config/config.h"

namespace kiln {

class LrSchedule {
 public:
  LrSchedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps);
  // The learning rate of step `step` (0-based, counted over the whole run).
  double at(int64_t step) const;

 private:
  ScheduleConfig config_;
  double base_lr_;
  int64_t steps_per_epoch_, total_steps_;
};

}  // namespace kiln
