// The compute capability kiln's kernel choices read (gemm_v3_tc's sm_80 requirement, gemm_rounded's
// choice between tensor cores and rounded copies): the device's major number, read once per device,
// and a test hook that overrides it. The emulator models sm_80 and later only (kernels/emu,
// KILN_EMU_SM), so the tests reach the pre-Ampere paths through ScopedComputeMajor.
// Plain C++ (no CUDA): includable from host code and tests.
#pragma once

#include "core/device.h"

namespace kiln::gpu {

// The compute capability's major number of CUDA device `device` (8 for sm_80 and sm_86), or the
// calling thread's ScopedComputeMajor value while one is alive.
int compute_major(const Device& device);

// Whether `device` has the tensor cores of kiln's TF32/BF16/F16 GEMMs (compute_major() >= 8); the
// first `false` for a device is logged, as the GEMMs then take their path without tensor cores.
bool gemm_tensor_cores(const Device& device);

// Makes compute_major() answer `major` for every device on the calling thread (launches are issued
// from it) for its lifetime (tests only).
class ScopedComputeMajor {
 public:
  explicit ScopedComputeMajor(int major);
  ~ScopedComputeMajor();
  ScopedComputeMajor(const ScopedComputeMajor&) = delete;
  ScopedComputeMajor& operator=(const ScopedComputeMajor&) = delete;

 private:
  int previous_;
};

}  // namespace kiln::gpu
