// Device memory and host memory kept apart by the emulator (issue 12): a kernel given a pointer to
// ordinary host memory, and a copy whose kind does not match its pointers, are refused with an
// error naming the kernel or the call, as a GPU would fault or misbehave. Emulator only.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/error.h"
#include "kernels/launch.cuh"
#include "tests/emu/error_text.h"

#ifdef KILN_EMULATE

namespace {

__global__ void fill_ones(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = 1.0f;
}

__global__ void copy_second(const float* in, float* out) {
  if (threadIdx.x == 0) out[0] = in[0];
}

using kiln::testing::launch_error;

struct DeviceFloats {
  explicit DeviceFloats(size_t n) : n(n) { EXPECT_EQ(cudaSuccess, cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float))); }
  ~DeviceFloats() { cudaFree(p); }
  float* p = nullptr;
  size_t n;
};

}  // namespace

TEST(EmulatorMemory, KernelGivenAHostPointerIsRefusedNamingKernelAndArgument) {
  std::vector<float> host(64, 0.0f);
  DeviceFloats dev(1);
  const std::string error =
      launch_error([&] { kiln::launch(copy_second, 1, 32, 0, nullptr, dev.p, host.data()); });
  EXPECT_HAS(error, "copy_second");
  EXPECT_HAS(error, "host pointer");
  EXPECT_HAS(error, "argument 2");
  EXPECT_HAS(error, "memory_rules_test.cu");  // the launch site
  EXPECT_EQ(host[0], 0.0f) << "the kernel must not have run";
}

TEST(EmulatorMemory, DevicePinnedNullAndOnePastTheEndPointersAreAccepted) {
  DeviceFloats dev(64);
  kiln::launch(fill_ones, 1, 64, 0, nullptr, dev.p, 64);
  kiln::launch(fill_ones, 1, 32, 0, nullptr, dev.p + 64, 0);  // an empty view at the end
  kiln::launch(fill_ones, 1, 32, 0, nullptr, static_cast<float*>(nullptr), 0);
  float* pinned = nullptr;
  ASSERT_EQ(cudaSuccess, cudaMallocHost(reinterpret_cast<void**>(&pinned), 64 * sizeof(float)));
  kiln::launch(fill_ones, 1, 64, 0, nullptr, pinned, 64);  // mapped into the device's space (UVA)
  ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());  // the host reads what the kernel wrote
  EXPECT_EQ(pinned[63], 1.0f);
  EXPECT_EQ(cudaSuccess, cudaFreeHost(pinned));
  // Freed memory is no longer the device's.
  float* gone = nullptr;
  ASSERT_EQ(cudaSuccess, cudaMalloc(reinterpret_cast<void**>(&gone), 256));
  ASSERT_EQ(cudaSuccess, cudaFree(gone));
  EXPECT_NE(kiln::emu::memory_space(gone), kiln::emu::MemorySpace::Device);
}

TEST(EmulatorMemory, CopyOfTheWrongKindFailsAndSaysWhy) {
  DeviceFloats dev(16);
  std::vector<float> host(16, 2.0f);
  const size_t bytes = 16 * sizeof(float);
  EXPECT_EQ(cudaSuccess, cudaMemcpy(dev.p, host.data(), bytes, cudaMemcpyHostToDevice));
  EXPECT_EQ(cudaSuccess, cudaMemcpy(host.data(), dev.p, bytes, cudaMemcpyDefault));

  // Source and destination swapped: the classic mistake.
  EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(host.data(), dev.p, bytes, cudaMemcpyHostToDevice));
  EXPECT_EQ(cudaErrorInvalidValue, cudaGetLastError());
  const std::string why = cudaGetErrorString(cudaErrorInvalidValue);
  EXPECT_HAS(why, "cudaMemcpyHostToDevice");
  EXPECT_HAS(why, "destination");
  EXPECT_HAS(why, "host memory");

  EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(dev.p, host.data(), bytes, cudaMemcpyDeviceToDevice));
  EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpyAsync(host.data(), host.data() + 8, 8, cudaMemcpyDeviceToHost, nullptr));
  EXPECT_EQ(cudaErrorInvalidValue, cudaMemset(host.data(), 0, bytes));
  cudaGetLastError();
}

TEST(EmulatorMemory, CopyPastTheEndOfADeviceBlockFails) {
  DeviceFloats dev(16);
  std::vector<float> host(32, 0.0f);
  EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(dev.p, host.data(), 32 * sizeof(float), cudaMemcpyHostToDevice));
  EXPECT_HAS(cudaGetErrorString(cudaErrorInvalidValue), "64 bytes left in its 64-byte allocation, 128 asked");
  EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(host.data(), dev.p + 8, 9 * sizeof(float), cudaMemcpyDeviceToHost));
  cudaGetLastError();
}

TEST(EmulatorMemory, KilnCudaCheckNamesTheCallAndTheReason) {
  DeviceFloats dev(4);
  float host[4] = {};
  const std::string error = launch_error(
      [&] { KILN_CUDA_CHECK(cudaMemcpy(dev.p, host, sizeof host, cudaMemcpyDeviceToHost)); });
  EXPECT_HAS(error, "cudaMemcpy(dev.p, host, sizeof host, cudaMemcpyDeviceToHost)");
  EXPECT_HAS(error, "cudaErrorInvalidValue");
  EXPECT_HAS(error, "the destination");
  EXPECT_HAS(error, "is device memory");
}

#else
TEST(EmulatorMemory, EmulatorOnly) { GTEST_SKIP() << "tests of the CUDA emulator's memory rules"; }
#endif  // KILN_EMULATE
