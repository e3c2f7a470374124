// CPU dropout: the Philox mask of kernels/shapes/dropout.h recomputed per element (no mask buffer),
// in fixed slices on kiln's CPU workers. Element i reads the word of global index first + i.
#include "kernels/dropout.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void dropout_forward(const DropoutShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const uint32_t threshold = s.threshold();
  const float scale = s.scale();
  detail::for_slices(s.count, detail::kParallelMin / 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      y[i] = dropout_keep(s.seed, s.offset, s.first + static_cast<uint64_t>(i), threshold) ? x[i] * scale : 0.0f;
  });
}

// The same mask and scale applied to dy: dx = mask * scale * dy.
void dropout_backward(const DropoutShape& s, const float* dy, float* dx, const Stream& stream) {
  dropout_forward(s, dy, dx, stream);
}

void dropout_mask(const DropoutShape& s, uint8_t* mask, const Stream&) {
  s.validate();
  const uint32_t threshold = s.threshold();
  detail::for_slices(s.count, detail::kParallelMin / 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      mask[i] = dropout_keep(s.seed, s.offset, s.first + static_cast<uint64_t>(i), threshold) ? 1 : 0;
  });
}

}  // namespace kiln::cpu
