// CPU twins of kernels/random.cuh: the same Philox streams, bit for bit.
#pragma once

#include <cstdint>

namespace kiln {
class Stream;
}

namespace kiln::cpu {

// out[i] = uniform in [lo, hi), i < n.                       out: (n) on the host
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi,
                  const Stream& stream);
// out[i] = normal(mean, stddev), i < n.                      out: (n) on the host
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float stddev,
                 const Stream& stream);

}  // namespace kiln::cpu
