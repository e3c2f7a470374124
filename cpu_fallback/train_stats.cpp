// CPU training-step statistics: the contract's arithmetic, in the GPU kernels' order (one loop).
#include "kernels/train_stats.h"

#include <cmath>

namespace kiln::cpu {

void accumulate_step_stats(const StepStatsShape& s, const float* loss, const int32_t* correct, double* acc,
                           const Stream&) {
  s.validate();
  const double l = loss[0];
  const double c = correct[0];
  const double weighted = l * static_cast<double>(s.counted);
  acc[kWindowLoss] += weighted;
  acc[kEpochLoss] += weighted;
  acc[kWindowCorrect] += c;
  acc[kEpochCorrect] += c;
  acc[kLastLoss] = l;
  if (!std::isfinite(l) && acc[kFirstBadStep] == 0.0) {
    acc[kFirstBadStep] = static_cast<double>(s.step);
    acc[kFirstBadLoss] = l;
  }
}

void clip_scale(const ClipShape& s, const float* sums, float* scale, const Stream&) {
  s.validate();
  double total = 0.0;
  for (int i = 0; i < s.parts; ++i) total += static_cast<double>(sums[i]);
  const double norm = std::sqrt(total);
  scale[0] = norm > s.max_norm ? static_cast<float>(s.max_norm / (norm + s.eps)) : 1.0f;
  scale[1] = static_cast<float>(norm);
}

}  // namespace kiln::cpu
