// Random fills on a CUDA device from Philox4x32-10 keyed by (seed, offset): element i is the same
// number kiln::cpu::fill_* and kiln::philox_uniform/philox_normal give, bit for bit.
#pragma once

#include "kernels/shapes/random.h"

namespace kiln {
class Stream;
}

namespace kiln::gpu {

// out (n) = uniform in [shape.lo, shape.hi). WRITTEN.
void fill_uniform(const RandomShape& shape, float* out, const Stream& stream);
// out (n) = normal(shape.mean, shape.stddev). WRITTEN.
void fill_normal(const RandomShape& shape, float* out, const Stream& stream);

}  // namespace kiln::gpu
