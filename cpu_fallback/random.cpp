// CPU Philox fills: one Philox block (4 outputs) per iteration, OpenMP over blocks; the same
// element formulas as the GPU (core/philox.h), so the two agree bit for bit.
#include "kernels/random.h"

#include "core/philox.h"

namespace kiln::cpu {

void fill_uniform(const RandomShape& s, float* out, const Stream&) {
  s.validate();
  const int64_t n = s.n;
  const uint64_t seed = s.seed, offset = s.offset;
  const float lo = s.lo, hi = s.hi;
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const Philox4x32 r = philox_block(seed, offset, static_cast<uint64_t>(b));
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) out[b * 4 + j] = uniform_in(r.v[j], lo, hi);
  }
}

void fill_normal(const RandomShape& s, float* out, const Stream&) {
  s.validate();
  const int64_t n = s.n;
  const uint64_t seed = s.seed, offset = s.offset;
  const float mean = s.mean, stddev = s.stddev;
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    float v[4];
    normal4_from_block(philox_block(seed, offset, static_cast<uint64_t>(b)), mean, stddev, v);
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) out[b * 4 + j] = v[j];
  }
}

}  // namespace kiln::cpu
