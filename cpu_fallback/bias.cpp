// CPU per-channel bias add and its gradient: plain loops, OpenMP over rows (forward) and channels
// (backward, double accumulation in a fixed order: the same bits for any thread count).
#include "kernels/bias.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void bias_add(const BiasShape& s, const float* bias, float* y, const Stream&) {
  s.validate();
  const int64_t rows = static_cast<int64_t>(s.n) * s.c;
  if (s.inner == 1) {  // (N, C) rows, Linear: no modulo per element
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
    for (int n = 0; n < s.n; ++n) {
      float* yr = y + static_cast<int64_t>(n) * s.c;
      for (int c = 0; c < s.c; ++c) yr[c] += bias[c];
    }
    return;
  }
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const float b = bias[row % s.c];
    float* yr = y + row * s.inner;
    for (int64_t i = 0; i < s.inner; ++i) yr[i] += b;
  }
}

void bias_backward(const BiasShape& s, const float* dy, float* db, const Stream&) {
  s.validate();
  // One channel per iteration, summed over (n, i) in a fixed order: no races, same bits for any
  // thread count.
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int c = 0; c < s.c; ++c) {
    double acc = 0.0;
    for (int n = 0; n < s.n; ++n) {
      const float* d = dy + (static_cast<int64_t>(n) * s.c + c) * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) acc += d[i];
    }
    db[c] += static_cast<float>(acc);
  }
}

}  // namespace kiln::cpu
