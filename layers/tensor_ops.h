// Small whole-tensor operations the graph and the layers share, each one call of a kiln::cpu:: or
// kiln::gpu:: op chosen by the tensor's device (KILN_DISPATCH, kernels/dispatch.h). Float32
// tensors of equal element counts.
#pragma once

#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/shapes/precision.h"

namespace kiln::graph {

// y += x (elementwise): the per-channel bias add with one element per channel, so exact and
// deterministic on both devices.
void add_into(Tensor& y, const Tensor& x, const Stream& stream);

// The 16-bit storage format of activations at `precision`: BF16 or F16; F32 for F32 and TF32.
DType activation_dtype(MathPrecision precision);

// x converted to `dtype` (F32 <-> BF16 or F16; rounding to nearest even, widening exact), a new
// tensor allocated on `stream`. x itself when it already holds `dtype`.
Tensor to_dtype(const Tensor& x, DType dtype, const Stream& stream);

// x (F32) rounded in place to `precision` (kernels/convert.inc round_to_precision).
void round_in_place(Tensor& x, MathPrecision precision, const Stream& stream);

// x (F32) = round(x * factor[0]) in place, factor a (1) tensor on x's device (FP16 loss scaling).
void scale_gradient(Tensor& x, const Tensor& factor, MathPrecision precision, const Stream& stream);

}  // namespace kiln::graph
