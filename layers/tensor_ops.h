// Small whole-tensor operations the graph and the layers share, each one call of a kiln::cpu:: or
// kiln::gpu:: op chosen by the tensor's device (a CUDA tensor in a build without a device is an
// error). Float32 tensors of equal element counts.
#pragma once

#include <string_view>

#include "core/stream.h"
#include "core/tensor.h"

namespace kiln::graph {

// y += x (elementwise): the per-channel bias add with one element per channel, so exact and
// deterministic on both devices.
void add_into(Tensor& y, const Tensor& x, const Stream& stream);

// Throws "<what>: not available on <device> in this build ..." (CUDA tensor, no device build).
[[noreturn]] void no_device(std::string_view what, Device device);

}  // namespace kiln::graph
