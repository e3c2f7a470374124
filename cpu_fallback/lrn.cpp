// CPU LRN across channels. Parallel over (n, h-row) so each thread runs along contiguous w with a
// sliding channel window; scale and the backward window sum are accumulated in float over at
// most `size` terms.
#include "kernels/lrn.h"

#include <cmath>
#include <vector>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void lrn_forward(const LrnShape& s, const float* x, float* y, float* scale, const Stream&) {
  s.validate();
  const int64_t HW = s.plane(), CHW = s.c * HW;
  const float a = s.alpha / static_cast<float>(s.size);
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
  for (int64_t nh = 0; nh < static_cast<int64_t>(s.n) * s.h; ++nh) {
    const int64_t n = nh / s.h, hrow = nh % s.h;
    const int64_t base = n * CHW + hrow * s.w;
    for (int c = 0; c < s.c; ++c) {
      const int lo = s.window_lo(c), hi = s.window_hi(c);
      for (int iw = 0; iw < s.w; ++iw) {
        float sq = 0.0f;
        for (int j = lo; j <= hi; ++j) {
          const float v = x[base + j * HW + iw];
          sq += v * v;
        }
        const int64_t at = base + c * HW + iw;
        const float sc = s.k + a * sq;
        scale[at] = sc;
        y[at] = x[at] * std::pow(sc, -s.beta);
      }
    }
  }
}

void lrn_backward(const LrnShape& s, const float* x, const float* y, const float* scale, const float* dy, float* dx,
                  const Stream&) {
  s.validate();
  const int64_t HW = s.plane(), CHW = s.c * HW;
  const float coef = 2.0f * s.alpha * s.beta / static_cast<float>(s.size);
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
  for (int64_t nh = 0; nh < static_cast<int64_t>(s.n) * s.h; ++nh) {
    const int64_t n = nh / s.h, hrow = nh % s.h;
    const int64_t base = n * CHW + hrow * s.w;
    std::vector<float> ratio(static_cast<size_t>(s.c));  // dy*y/scale for one column
    for (int iw = 0; iw < s.w; ++iw) {
      for (int c = 0; c < s.c; ++c) {
        const int64_t at = base + c * HW + iw;
        ratio[static_cast<size_t>(c)] = dy[at] * y[at] / scale[at];
      }
      for (int c = 0; c < s.c; ++c) {
        // j such that c is in W(j): [c - (size-1)/2, c + size/2]
        int lo = c - (s.size - 1) / 2, hi = c + s.size / 2;
        if (lo < 0) lo = 0;
        if (hi > s.c - 1) hi = s.c - 1;
        float acc = 0.0f;
        for (int j = lo; j <= hi; ++j) acc += ratio[static_cast<size_t>(j)];
        const int64_t at = base + c * HW + iw;
        dx[at] = dy[at] * std::pow(scale[at], -s.beta) - coef * x[at] * acc;
      }
    }
  }
}

}  // namespace kiln::cpu
