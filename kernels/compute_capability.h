// The compute capability of a device, for launchers that choose a kernel by architecture (the
// tensor-core kernels need sm_80+: mma.sync m16n8k16 BF16, TF32, cp.async). Host code; both GPU
// flavours (the emulator answers per KILN_EMU_SM).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstddef>

#include "core/cuda_check.h"
#include "core/error.h"

namespace kiln::gpu {

// The compute capability's major number of device `device`, read once per device (0: not read yet).
inline int compute_major(int device) {
  static std::array<std::atomic<int>, 64> majors{};
  KILN_CHECK(device >= 0 && device < static_cast<int>(majors.size()), "compute capability: device index {} out of range",
             device);
  int major = majors[static_cast<size_t>(device)].load(std::memory_order_relaxed);
  if (major == 0) {
    KILN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    majors[static_cast<size_t>(device)].store(major, std::memory_order_relaxed);
  }
  return major;
}

}  // namespace kiln::gpu
