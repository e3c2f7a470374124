// KILN_DISPATCH: the one way host code (layers, the graph, the trainer's device ops) chooses between
// the two backends of an op.
//
//   KILN_DISPATCH(device, op, args...)
//
// calls kiln::cpu::op(args...) when `device` is the CPU and kiln::gpu::op(args...) otherwise, with
// the same arguments: both are declared once, with one signature, in kernels/<op's file>.h, which
// the caller includes. The expression has the op's type (void for every launcher). The tensors
// must already be on `device`: nothing is copied, and there is never a fallback from one backend
// to the other.
//
// In a build without a device (KILN_GPU=off) kiln::gpu:: ops are declared but not defined, so the
// macro does not name them there: a CUDA device is an error, raised by kiln::no_device() with one
// text for every op ("<op>: the tensor is on cuda:0 but this kiln was built without GPU support
// ..."). Such a tensor cannot be made in that build anyway; the check is a guard, not a feature.
//
// Plain C++ (no CUDA), includable by host code in every flavour.
#pragma once

#include <string>
#include <string_view>

#include "core/device.h"
#include "core/error.h"

namespace kiln {

// Throws kiln::Error: `op` cannot run on `device` because this build has no GPU support.
[[noreturn]] inline void no_device(std::string_view op, Device device) {
  fail(format_message("{}: the tensor is on {} but this kiln was built without GPU support (configure with "
                      "-DKILN_GPU=cuda or emulate)",
                      op, device.str()));
}

}  // namespace kiln

#if KILN_WITH_DEVICE
#define KILN_DISPATCH(device, op, ...) \
  ((device).is_cpu() ? ::kiln::cpu::op(__VA_ARGS__) : ::kiln::gpu::op(__VA_ARGS__))
#else
#define KILN_DISPATCH(device, op, ...) \
  ((device).is_cpu() ? ::kiln::cpu::op(__VA_ARGS__) : ::kiln::no_device(#op, (device)))
#endif
