// CPU reductions: double accumulation over fixed chunks (detail::deterministic_sum).
#include "kernels/reduce.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void reduce_sum(const ReduceShape& s, const float* x, float* out, const Stream&) {
  s.validate();
  *out = static_cast<float>(detail::deterministic_sum(s.count, [x](int64_t i) { return static_cast<double>(x[i]); }));
}

void reduce_sum_squares(const ReduceShape& s, const float* x, float* out, const Stream&) {
  s.validate();
  *out = static_cast<float>(detail::deterministic_sum(s.count, [x](int64_t i) {
    const double v = x[i];
    return v * v;
  }));
}

void count_correct(const AccuracyShape& s, const float* logits, const int32_t* labels, int32_t* out,
                   const Stream&) {
  s.validate();
  int32_t correct = 0;
#pragma omp parallel for schedule(static) reduction(+ : correct) if (static_cast<int64_t>(s.n) * s.c >= detail::kParallelMin)
  for (int i = 0; i < s.n; ++i) {
    if (labels[i] == s.ignore_label) continue;
    const float* x = logits + static_cast<int64_t>(i) * s.c;
    int best = 0;
    for (int j = 1; j < s.c; ++j)
      if (x[j] > x[best]) best = j;
    if (best == labels[i]) ++correct;
  }
  *out = correct;
}

}  // namespace kiln::cpu
