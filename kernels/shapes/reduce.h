// Where: launchers kernels/reduce.h (declared once, kernels/reduce.inc); GPU kernels/reduce.cu; CPU
//        twin cpu_fallback/reduce.cpp; no layer: the trainer, through tools/train/device_ops.cpp
//        (the gradient norm for clipping in tools/train/solver.cpp, accuracy in
//        tools/train/trainer.cpp; reduce_sum only in tests); parity and bench rows
//        tests/parity/cases_reduce.cpp; reference test
//        tests/reference/reduce_reference_test.cpp.
//
// Reductions the training loop needs: sum, sum of squares (gradient norm), correct-prediction
// count. Accumulated in double over fixed-size chunks in a fixed order, so the result does not
// depend on the number of threads (or, on the GPU, on the grid), only on the data.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct ReduceShape {
  int64_t count = 0;

  int64_t flops() const { return count; }
  int64_t bytes() const { return 4 * count; }
  void validate() const { KILN_CHECK(count >= 0, "reduce: count={} must be >= 0", count); }
};

// Correct predictions: row i of logits (N, C) counts when argmax_j logits[i, j] == labels[i]
// (ties: the first maximum) and labels[i] != ignore_label.
struct AccuracyShape {
  int n = 1, c = 1;
  int32_t ignore_label = -100;

  int64_t flops() const { return static_cast<int64_t>(n) * c; }
  int64_t bytes() const { return 4 * (static_cast<int64_t>(n) * c + n); }
  void validate() const {
    KILN_CHECK(n >= 1 && c >= 1, "count_correct: logits (N, C) = ({}, {}) must be positive", n, c);
  }
};

}  // namespace kiln
