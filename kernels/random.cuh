// Random fills on a CUDA device from Philox4x32-10 keyed by (seed, offset): element i is the same
// number kiln::cpu::fill_* and kiln::philox_uniform/philox_normal give, bit for bit.
#pragma once

#include <cstdint>

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// out[i] = uniform in [lo, hi), i < n.                       out: (n) on the stream's device
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi,
                  const Stream& stream);
// out[i] = normal(mean, stddev), i < n.                      out: (n) on the stream's device
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float stddev,
                 const Stream& stream);

}  // namespace kiln::gpu
