// The --wrap targets of tests/train/cuda_call_counter.h. Declared with plain C types (the C ABI of
// the runtime's enums and handles: int and pointers), so this file needs no CUDA header and builds
// the same in the emulate and cuda flavours.
#include "tests/train/cuda_call_counter.h"

#include <atomic>
#include <cstddef>

namespace {
std::atomic<int64_t> g_d2h{0}, g_h2d{0}, g_sync{0};

constexpr int kHostToDevice = 1;  // cudaMemcpyHostToDevice
constexpr int kDeviceToHost = 2;  // cudaMemcpyDeviceToHost

void count_copy(int kind) {
  if (kind == kDeviceToHost) ++g_d2h;
  if (kind == kHostToDevice) ++g_h2d;
}
}  // namespace

extern "C" {
int __real_cudaMemcpy(void* dst, const void* src, size_t count, int kind);
int __real_cudaMemcpyAsync(void* dst, const void* src, size_t count, int kind, void* stream);
int __real_cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                             int kind, void* stream);
int __real_cudaStreamSynchronize(void* stream);
int __real_cudaDeviceSynchronize();
int __real_cudaEventSynchronize(void* event);

// A blocking cudaMemcpy waits for the device as well: counted as a copy and a synchronisation.
int __wrap_cudaMemcpy(void* dst, const void* src, size_t count, int kind) {
  count_copy(kind);
  ++g_sync;
  return __real_cudaMemcpy(dst, src, count, kind);
}
int __wrap_cudaMemcpyAsync(void* dst, const void* src, size_t count, int kind, void* stream) {
  count_copy(kind);
  return __real_cudaMemcpyAsync(dst, src, count, kind, stream);
}
int __wrap_cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                             int kind, void* stream) {
  count_copy(kind);
  return __real_cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, stream);
}
int __wrap_cudaStreamSynchronize(void* stream) {
  ++g_sync;
  return __real_cudaStreamSynchronize(stream);
}
int __wrap_cudaDeviceSynchronize() {
  ++g_sync;
  return __real_cudaDeviceSynchronize();
}
int __wrap_cudaEventSynchronize(void* event) {
  ++g_sync;
  return __real_cudaEventSynchronize(event);
}
}

namespace kiln::testing {
CudaCallCounts cuda_call_counts() { return {g_d2h.load(), g_h2d.load(), g_sync.load()}; }
}  // namespace kiln::testing
