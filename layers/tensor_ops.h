// Small whole-tensor operations the graph and the layers share, each one call of a kiln::cpu:: or
// kiln::gpu:: op chosen by the tensor's device (KILN_DISPATCH, kernels/dispatch.h). Float32
// tensors of equal element counts.
#pragma once

#include "core/stream.h"
#include "core/tensor.h"

namespace kiln::graph {

// y += x (elementwise): the per-channel bias add with one element per channel, so exact and
// deterministic on both devices.
void add_into(Tensor& y, const Tensor& x, const Stream& stream);

}  // namespace kiln::graph
