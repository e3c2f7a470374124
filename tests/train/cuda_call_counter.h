// Counts the CUDA runtime calls that make the host wait for the device: device-to-host copies and
// synchronisations. The test executable that links tests/train/cuda_call_counter.cpp is linked
// with -Wl,--wrap for each counted function (tests/train/CMakeLists.txt), so every call from kiln's
// code, whichever file makes it, goes through a counter and then on to the real function (the
// emulator's in the emulate build, libcudart's in the cuda build). Nothing in kiln itself changes.
#pragma once

#include <cstdint>

namespace kiln::testing {

struct CudaCallCounts {
  int64_t device_to_host = 0;  // cudaMemcpy*(kind = cudaMemcpyDeviceToHost)
  int64_t host_to_device = 0;  // cudaMemcpy*(kind = cudaMemcpyHostToDevice)
  int64_t synchronize = 0;     // cudaStreamSynchronize, cudaDeviceSynchronize, cudaEventSynchronize
  CudaCallCounts operator-(const CudaCallCounts& o) const {
    return {device_to_host - o.device_to_host, host_to_device - o.host_to_device, synchronize - o.synchronize};
  }
};

// The counts since the process started.
CudaCallCounts cuda_call_counts();

}  // namespace kiln::testing
