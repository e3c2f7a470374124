#include "cpu_fallback/random.h"

#include "core/philox.h"

namespace kiln::cpu {

void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi,
                  const Stream&) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const Philox4x32 r = philox_block(seed, offset, static_cast<uint64_t>(b));
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) out[b * 4 + j] = uniform_in(r.v[j], lo, hi);
  }
}

void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float stddev,
                 const Stream&) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    float v[4];
    normal4_from_block(philox_block(seed, offset, static_cast<uint64_t>(b)), mean, stddev, v);
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) out[b * 4 + j] = v[j];
  }
}

}  // namespace kiln::cpu
