// compute_major, its test override and the tensor-core question (kernels/compute_capability.h).
// Host code only: plain C++ in both builds (so it may log: nvcc cannot compile fmt).
#include "kernels/compute_capability.h"

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <mutex>
#include <set>

#include "core/cuda_check.h"
#include "core/error.h"
#include "core/log.h"

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

bool gemm_tensor_cores(const Device& device) {
  const int major = compute_major(device);
  if (major >= 8) return true;
  static std::mutex mutex;
  static std::set<int> noted;
  std::lock_guard lock(mutex);
  if (noted.insert(device.index).second)
    log::info("{} is sm_{}x, without TF32/BF16 tensor cores: TF32/BF16/F16 GEMMs round copies of their operands, "
              "then run the FP32 path (kernels/gemm.h)",
              device.str(), major);
  return false;
}

ScopedComputeMajor::ScopedComputeMajor(int major) : previous_(override_for_thread()) {
  override_for_thread() = major;
}
ScopedComputeMajor::~ScopedComputeMajor() { override_for_thread() = previous_; }

}  // namespace kiln::gpu
