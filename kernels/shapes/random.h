// Where: launchers kernels/random.h (declared once, kernels/random.inc); GPU kernels/random.cu; CPU
//        twin cpu_fallback/random.cpp; no layer: parameter initialisation, layers/init.cpp; parity
//        and bench rows tests/parity/cases_random.cpp; element formulas and device equality
//        tests/core/philox_test.cpp.
//
// RandomShape: fills of n floats from Philox4x32-10 keyed by (seed, offset) (core/philox.h), so the
// CPU and the GPU write the same numbers, bit for bit.
//
// Layout: out (n), packed.
//   fill_uniform  out[i] = philox_uniform(seed, offset, i, lo, hi)      uniform in [lo, hi)
//                 (lo == hi gives exactly lo: how constant initialisation is drawn)
//   fill_normal   out[i] = philox_normal(seed, offset, i, mean, stddev)  normal(mean, stddev)
//                 (elements 2k, 2k+1 are one Box-Muller pair)
// Each fill reads only its own pair of parameters (lo, hi or mean, stddev). `offset` counts Philox
// blocks of 4 words: element i uses block offset + i/4, so a draw consumes blocks_used() blocks and
// any element can be computed on its own, in any order, on any device. out is WRITTEN (=).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct RandomShape {
  int64_t n = 0;        // elements to fill
  uint64_t seed = 0;    // the stream's key
  uint64_t offset = 0;  // first Philox block of the draw
  float lo = 0.0f;      // fill_uniform: [lo, hi)
  float hi = 1.0f;
  float mean = 0.0f;    // fill_normal: normal(mean, stddev)
  float stddev = 1.0f;

  // Philox blocks this draw consumes: the next independent draw may start at offset + blocks_used().
  KILN_HD uint64_t blocks_used() const { return (static_cast<uint64_t>(n) + 3) / 4; }

  // The float math per element is a handful of operations on integer Philox words (memory-bound):
  // counted as none, like the other data-movement ops.
  int64_t flops() const { return 0; }
  int64_t bytes() const { return 4 * n; }

  void validate() const { KILN_CHECK(n >= 0, "random fill: n={} must be >= 0", n); }
};

}  // namespace kiln
