#include "tools/train/step_stats.h"

#include <cstring>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/reduce.h"
#include "kernels/train_stats.h"

namespace kiln {
namespace {
// The accumulator's doubles, in an int32 tensor (kiln tensors are F32 or I32); its memory is
// 8-byte aligned (allocations are).
double* doubles(const Tensor& acc) { return static_cast<double*>(acc.raw_data()); }
}  // namespace

StepStats::StepStats(Device device)
    : acc_(Tensor::zeros({2 * kStatSlots}, device, DType::I32)), correct_(Tensor::zeros({1}, device, DType::I32)) {}

void StepStats::add(const Tensor& loss, const Tensor& logits, const Tensor& labels, int64_t counted, int64_t step,
                    const Stream& stream, int32_t ignore_label) {
  KILN_CHECK(logits.rank() == 2 && labels.rank() == 1 && labels.dim(0) == logits.dim(0) && loss.numel() == 1,
             "step statistics: logits {}, labels {} and loss {} do not match", logits.shape().str(),
             labels.shape().str(), loss.shape().str());
  const Device device = logits.device();
  const AccuracyShape accuracy{static_cast<int>(logits.dim(0)), static_cast<int>(logits.dim(1)), ignore_label};
  KILN_DISPATCH(device, count_correct, accuracy, logits.data<float>(), labels.data<int32_t>(),
                correct_.data<int32_t>(), stream);
  const StepStatsShape shape{.counted = counted, .step = step};
  KILN_DISPATCH(device, accumulate_step_stats, shape, loss.data<float>(), correct_.data<int32_t>(), doubles(acc_),
                stream);
}

void StepStats::add_loss(const Tensor& loss, int64_t counted, int64_t step, const Stream& stream) {
  KILN_CHECK(loss.numel() == 1, "step statistics: loss {} is not a scalar", loss.shape().str());
  correct_.fill_zero(stream);  // no classes: nothing is correct
  const StepStatsShape shape{.counted = counted, .step = step};
  KILN_DISPATCH(loss.device(), accumulate_step_stats, shape, loss.data<float>(), correct_.data<int32_t>(),
                doubles(acc_), stream);
}

StepStats::Totals StepStats::read() const {
  const std::vector<int32_t> words = acc_.to_host_i32();
  double v[kStatSlots];
  std::memcpy(v, words.data(), sizeof v);
  return {v[kWindowLoss], v[kWindowCorrect], v[kEpochLoss],  v[kEpochCorrect],
          v[kLastLoss],   static_cast<int64_t>(v[kFirstBadStep]), v[kFirstBadLoss]};
}

void StepStats::reset_window(const Stream& stream) { acc_.slice(0, 2 * kWindowSlots).fill_zero(stream); }

void StepStats::reset_epoch(const Stream& stream) {
  acc_.slice(2 * kEpochLoss, 2 * (kEpochCorrect + 1)).fill_zero(stream);
}

}  // namespace kiln
