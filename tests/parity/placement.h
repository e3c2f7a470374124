// How an activation or dropout row of the op table (tests/parity/cases_activation.cpp,
// tests/parity/cases_dropout.cpp) places its data: separate buffers, in place, or one element past
// an aligned start (the kernels' scalar path).
#pragma once

#include "tests/parity/op_table.h"

namespace kiln::optable {

enum class Placement { Separate, InPlace, Unaligned };
inline const char* placement_name(Placement p) {
  return p == Placement::Separate ? "" : p == Placement::InPlace ? "_inplace" : "_unaligned";
}

// Unaligned cases leave element 0 of the output alone: it starts random (Accumulate) on both sides
// rather than as the harness's unwritten-NaN pattern, which would poison the tolerance's RMS.
inline Role output_role(Placement p) { return p == Placement::Unaligned ? Role::Accumulate : Role::Output; }

}  // namespace kiln::optable
