// Where: launchers kernels/convert.h (declared once, kernels/convert.inc); GPU kernels/convert.cu;
//        CPU twin cpu_fallback/convert.cpp; the scalar conversions core/half.h; parity and bench
//        rows tests/parity/cases_convert.cpp; reference test (edge values against the scalar
//        conversion) tests/reference/convert_reference_test.cpp.
//
// ConvertShape: elementwise conversion of n packed elements between FP32 and a 16-bit format.
//
// Layout: x (n) -> y (n), both packed:
//   f32_to_bf16 / f32_to_f16: y[i] = x[i] rounded to nearest, ties to even; overflow to ±inf,
//                             NaN stays NaN (quiet), subnormal results kept (core/half.h);
//   bf16_to_f32 / f16_to_f32: y[i] = x[i] exactly.
// y is WRITTEN (=); not in place (y must not overlap x). The GPU and the CPU twin call the same
// scalar functions, so they agree bit for bit.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/hd.h"

namespace kiln {

struct ConvertShape {
  int64_t n = 0;

  KILN_HD int64_t size() const { return n; }
  int64_t flops() const { return 0; }
  int64_t bytes() const { return 6 * n; }  // 4 bytes one side, 2 the other

  void validate() const { KILN_CHECK(n >= 0, "convert: n = {} must not be negative", n); }
};

}  // namespace kiln
