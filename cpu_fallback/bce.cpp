// CPU binary cross-entropy terms: one elementwise loop in fixed slices on kiln's CPU workers.
#include "kernels/bce.h"

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void bce_forward(const BceShape& s, const float* p, const float* t, float* loss, float* dp, float* dt, const Stream&) {
  s.validate();
  detail::for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      loss[i] = bce_term(p[i], t[i]);
      if (dp) dp[i] = bce_slope(p[i], t[i]);
      if (dt) dt[i] = bce_target_slope(p[i]);
    }
  });
}

}  // namespace kiln::cpu
