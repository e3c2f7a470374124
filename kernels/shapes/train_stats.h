// Where: launchers kernels/train_stats.h (declared once, kernels/train_stats.inc); GPU
//        kernels/train_stats.cu; CPU twin cpu_fallback/train_stats.cpp; no layer: the trainer,
//        tools/train/step_stats.{h,cpp} (loss and accuracy) and tools/train/solver.cpp (clipping);
//        parity and bench rows tests/parity/cases_train_stats.cpp; reference test
//        tests/reference/train_stats_reference_test.cpp.
//
// The scalars a training step produces, kept on the step's device so that a step needs no
// device-to-host read (a read waits for the whole queue: one per step would stall a GPU between
// steps). The host reads them every log_every steps instead.
//
// accumulate_step_stats: adds one step to the accumulator `acc`, double[kStatSlots] (layout
// StepStat below):
//   window/epoch loss    += double(loss[0]) * counted   (the loss is a mean over `counted` labels)
//   window/epoch correct += correct[0]
//   last loss             = double(loss[0])
//   if loss[0] is not finite and no step was recorded yet: first bad step = step, its loss
// loss * counted is exact in double (a float times an integer below 2^29), so a fused
// multiply-add gives the same bits as a multiply then an add: the sums equal the host's loop
// over steps bit for bit.
//
// clip_scale: the scale clipping by global L2 norm multiplies the gradients by, from the
// per-tensor sums of squares (each a float, as reduce_sum_squares writes them):
//   norm     = sqrt(sum_i double(sums[i]))   (in the order i = 0, 1, ...)
//   scale[0] = norm > max_norm ? float(max_norm / (norm + eps)) : 1.0f
//   scale[1] = float(norm)                   (for logs and tests)
// Both in double on one thread: the same bits on every device.
#pragma once

#include <cstdint>

#include "core/error.h"

namespace kiln {

// Slots of the step-statistics accumulator (doubles).
enum StepStat : int {
  kWindowLoss = 0,    // sum of loss * counted since the window began
  kWindowCorrect,     // correct predictions since the window began
  kEpochLoss,         // the same over the epoch
  kEpochCorrect,
  kLastLoss,          // the latest step's loss
  kFirstBadStep,      // the first step (1-based) whose loss was NaN or infinite; 0: none
  kFirstBadLoss,      // that loss
  kStatSlots
};
// The window slots come first, so resetting the window is one fill of kWindowSlots doubles.
constexpr int kWindowSlots = 2;

struct StepStatsShape {
  int64_t counted = 0;  // labels the loss is a mean over (padding excluded)
  int64_t step = 1;     // this step's number, 1-based (recorded if its loss is not finite)

  int64_t flops() const { return 4; }
  int64_t bytes() const { return 8 + 16 * kStatSlots; }
  void validate() const {
    KILN_CHECK(counted >= 0 && counted < (int64_t{1} << 29),
               "accumulate_step_stats: counted={} must be in [0, 2^29)", counted);
    KILN_CHECK(step >= 1, "accumulate_step_stats: step={} must be >= 1", step);
  }
};

struct ClipShape {
  int parts = 0;          // sums of squares to add (one per gradient tensor)
  double max_norm = 1.0;  // clip when the norm exceeds it
  double eps = 1e-6;

  int64_t flops() const { return parts + 3; }
  int64_t bytes() const { return 4 * (static_cast<int64_t>(parts) + 2); }
  void validate() const {
    KILN_CHECK(parts >= 0, "clip_scale: parts={} must be >= 0", parts);
    KILN_CHECK(max_norm > 0, "clip_scale: max_norm={} must be > 0", max_norm);
    KILN_CHECK(eps >= 0, "clip_scale: eps={} must be >= 0", eps);
  }
};

}  // namespace kiln
