// The loss and accuracy of training (and evaluation) steps, summed on the net's device and read by
// the host only when it prints or decides something: every log_every steps, at an epoch's end, at
// the end of an evaluation. A read copies the device to the host, which waits for every step queued
// so far; reading each step's loss would stall a GPU between steps. On the CPU the sums live in
// host memory and a read is a copy.
//
// The sums are those the trainer kept on the host before (kernels/shapes/train_stats.h): loss is
// the sum of each step's mean loss times its counted labels, so the logged mean is that sum over
// the labels counted (the host counts labels and samples: they come with the batch).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"

namespace kiln {

class StepStats {
 public:
  explicit StepStats(Device device);

  // Queues one step's sums on `stream`: the correct predictions of `logits` (N, C) against the
  // int32 `labels` (N) (ignore_label not counted) and the loss (1), a mean over `counted` labels.
  // `step` (1-based) is recorded if the loss is NaN or infinite.
  void add(const Tensor& loss, const Tensor& logits, const Tensor& labels, int64_t counted, int64_t step,
           const Stream& stream, int32_t ignore_label = -100);

  // The same for a loss without classes (regression): the loss alone; the correct sums stay 0.
  void add_loss(const Tensor& loss, int64_t counted, int64_t step, const Stream& stream);

  struct Totals {
    double window_loss = 0, window_correct = 0;  // since the last reset_window()
    double epoch_loss = 0, epoch_correct = 0;    // since the last reset_epoch()
    double last_loss = 0;
    int64_t first_bad_step = 0;  // the first step whose loss was not finite, 0: none
    double first_bad_loss = 0;
  };
  // Copies the sums to the host: one device-to-host read, which waits for the queued work.
  Totals read() const;
  // Zero the window's (the epoch's) sums, queued on `stream`: no host wait.
  void reset_window(const Stream& stream);
  void reset_epoch(const Stream& stream);

 private:
  Tensor acc_;      // (2 * kStatSlots) int32 words holding kStatSlots doubles
  Tensor correct_;  // (1) int32: the step's correct count, between the two kernels
};

}  // namespace kiln
