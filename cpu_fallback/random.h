// CPU twins of kernels/random.cuh: the same Philox streams, bit for bit.
#pragma once

#include "kernels/shapes/random.h"

namespace kiln {
class Stream;
}

namespace kiln::cpu {

// out (n) = uniform in [shape.lo, shape.hi). WRITTEN.
void fill_uniform(const RandomShape& shape, float* out, const Stream& stream);
// out (n) = normal(shape.mean, shape.stddev). WRITTEN.
void fill_normal(const RandomShape& shape, float* out, const Stream& stream);

}  // namespace kiln::cpu
