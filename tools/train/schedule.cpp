#include "tools/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kiln {

LrSchedule::LrSchedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps)
    : config_(config), base_lr_(base_lr), steps_per_epoch_(std::max<int64_t>(steps_per_epoch, 1)),
      total_steps_(std::max<int64_t>(total_steps, 1)) {}

double LrSchedule::at(int64_t step) const {
  if (step < config_.warmup_steps) return base_lr_ * static_cast<double>(step + 1) / config_.warmup_steps;
  const int64_t epoch = step / steps_per_epoch_;
  if (config_.type == "step") return base_lr_ * std::pow(config_.gamma, static_cast<double>(epoch / config_.step_size));
  if (config_.type == "multistep") {
    const auto passed = std::count_if(config_.milestones.begin(), config_.milestones.end(),
                                      [&](int64_t m) { return m <= epoch; });
    return base_lr_ * std::pow(config_.gamma, static_cast<double>(passed));
  }
  if (config_.type == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(total_steps_ - config_.warmup_steps, 1));
    const double t = std::min(static_cast<double>(step - config_.warmup_steps), span);
    return config_.min_lr + (base_lr_ - config_.min_lr) * (1 + std::cos(std::numbers::pi * t / span)) / 2;
  }
  return base_lr_;
}

}  // namespace kiln
