// CPU axis swap: one row copy of `inner` floats per (b, a), OpenMP over b.
#include "kernels/swap_axes.h"

#include <cstring>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void swap_axes(const SwapAxesShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const size_t row_bytes = static_cast<size_t>(s.inner) * sizeof(float);
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int64_t b = 0; b < s.b; ++b)
    for (int64_t a = 0; a < s.a; ++a)
      std::memcpy(y + (b * s.a + a) * s.inner, x + (a * s.b + b) * s.inner, row_bytes);
}

}  // namespace kiln::cpu
