// Where: launchers kernels/dropout.h (declared once, kernels/dropout.inc); GPU kernels/dropout.cu;
//        CPU twin cpu_fallback/dropout.cpp; layer layers/dropout.{h,cpp}; parity and bench rows
//        tests/parity/cases_dropout.cpp; reference test
//        tests/reference/dropout_reference_test.cpp; gradcheck
//        tests/gradcheck/op_table_gradcheck_test.cpp and tests/layers/layer_test.cpp.
//
// DropoutShape: inverted dropout with a Philox mask that the CPU and the GPU draw identically.
//
// The mask rule (exact, shared by every implementation):
//   threshold = dropout_threshold(p) = (uint32)floor(p * 2^32)   (p in [0, 1))
//   element i is KEPT iff philox_u32(seed, offset, first + i) >= threshold
//   y[i] = kept ? x[i] * scale : 0,  scale = 1.0f / (1.0f - p)  (computed in float)
// so P(keep) = 1 - threshold/2^32 = 1 - p up to 2^-32. The backward recomputes the same mask from
// (seed, offset): dx[i] = kept ? dy[i] * scale : 0 (dx WRITTEN). Both may run in place.
// `offset` counts Philox blocks of 4 words (element i uses block offset + (first + i)/4): the
// caller advances it by blocks_used() = ceil(global/4) per draw so that successive steps get fresh
// masks and a resumed run repeats them exactly.
// Sharded draws (data-parallel training): a call may compute only the slice [first, first + count)
// of a GLOBAL draw of `global_count` elements (0: global = count). The mask is keyed by the global
// index, so a sample gets the same mask whichever rank computes it, and blocks_used() counts the
// global draw, so every rank advances `offset` identically. first = 0, global_count = 0 is the
// unsharded draw (bit-identical to before the fields existed: old checkpoints keep their masks).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"
#include "core/philox.h"

namespace kiln {

KILN_HD uint32_t dropout_threshold(float p) {
  const double t = static_cast<double>(p) * 4294967296.0;
  return t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(t);
}

KILN_HD bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t i, uint32_t threshold) {
  return philox_u32(seed, offset, i) >= threshold;
}

struct DropoutShape {
  int64_t count = 1;
  float p = 0.5f;  // drop probability
  uint64_t seed = 0;
  uint64_t offset = 0;
  uint64_t first = 0;        // global index of this call's element 0
  int64_t global_count = 0;  // elements of the whole global draw; 0: count (not sharded)

  KILN_HD uint32_t threshold() const { return dropout_threshold(p); }
  KILN_HD float scale() const { return 1.0f / (1.0f - p); }
  KILN_HD int64_t global() const { return global_count != 0 ? global_count : count; }
  // Philox blocks the whole global draw consumes: the next draw starts at offset + blocks_used().
  KILN_HD uint64_t blocks_used() const { return (static_cast<uint64_t>(global()) + 3) / 4; }

  int64_t flops() const { return count; }
  int64_t bytes() const { return 8 * count; }

  void validate() const {
    KILN_CHECK(count >= 0, "dropout: count={} must be >= 0", count);
    KILN_CHECK(p >= 0.0f && p < 1.0f, "dropout: p={} must be in [0, 1)", p);
    KILN_CHECK(global_count >= 0, "dropout: global_count={} must be >= 0", global_count);
    KILN_CHECK(first <= static_cast<uint64_t>(global()) && static_cast<uint64_t>(count) <= static_cast<uint64_t>(global()) - first,
               "dropout: slice [first={}, +count={}) exceeds the global draw of {} elements", first, count, global());
  }
};

}  // namespace kiln
