// compute_major and its test override (kernels/compute_capability.h).
#include "kernels/compute_capability.h"

#include <cuda_runtime.h>

#include <array>
#include <atomic>

#include "core/cuda_check.h"
#include "core/error.h"

namespace kiln::gpu {

// 0: no override.
static int& override_for_thread() {
  thread_local int major = 0;
  return major;
}

int compute_major(const Device& device) {
  if (override_for_thread() > 0) return override_for_thread();
  static std::array<std::atomic<int>, 64> majors{};  // 0: not read yet
  KILN_CHECK(device.is_cuda() && device.index >= 0 && device.index < static_cast<int>(majors.size()),
             "compute_major: {} is not a CUDA device index kiln handles", device.str());
  auto& slot = majors[static_cast<size_t>(device.index)];
  int major = slot.load(std::memory_order_relaxed);
  if (major == 0) {
    KILN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device.index));
    slot.store(major, std::memory_order_relaxed);
  }
  return major;
}

ScopedComputeMajor::ScopedComputeMajor(int major) : previous_(override_for_thread()) {
  override_for_thread() = major;
}
ScopedComputeMajor::~ScopedComputeMajor() { override_for_thread() = previous_; }

}  // namespace kiln::gpu
