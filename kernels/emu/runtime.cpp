// The CUDA runtime API as the emulated device provides it: the functions that cuda_runtime_api.h
// declares (same names after the header's own macro renames, same signatures, C linkage), so the
// rest of kiln calls cudaMalloc & co in both the `cuda` and the `emulate` build.
//
// Semantics: one device (index 0) backed by host memory; device memory is plain malloc (so ASan
// and the heap checkers see every buffer), recorded in memory_map.cpp so that copies of the wrong
// kind and kernels given host pointers are refused as on a GPU; copies, memsets and kernel
// launches run when they are called, or, with deferred streams, when their stream's work is
// needed (streams.cpp, which also has the stream and event API); events time with the steady
// clock. A failing call sets the last error, which cudaGetLastError returns and resets, as on a
// GPU.
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/stack_pool.h"

namespace {

std::atomic<int> g_last_error{cudaSuccess};
thread_local int t_device = 0;
std::atomic<size_t> g_in_use{0};

// Why the calling thread's last failing call failed, where the status code alone does not say
// (cudaGetErrorString appends it): a kiln::Error from KILN_CUDA_CHECK then names the problem.
thread_local cudaError_t t_detail_error = cudaSuccess;
thread_local std::string t_detail;

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) {
    g_last_error.store(e, std::memory_order_relaxed);
    t_detail.clear();
  }
  return e;
}

cudaError_t fail(cudaError_t e, std::string detail) {
  ret(e);
  t_detail_error = e;
  t_detail = std::move(detail);
  return e;
}

size_t total_memory() {
  static const size_t total = [] {
    if (const char* e = std::getenv("KILN_EMU_MEMORY_MB"); e && *e) {
      const unsigned long long mb = std::strtoull(e, nullptr, 10);
      if (mb > 0) return static_cast<size_t>(mb) << 20;
    }
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page)
                                 : size_t{16} << 30;
  }();
  return total;
}

const kiln::emu::DeviceConfig& cfg() { return kiln::emu::device_config(); }
#define kSharedPerBlock (cfg().shared_per_block)
#define kSharedOptin (cfg().shared_optin)
#define kSharedPerSm (cfg().shared_per_sm)

bool valid_device(int device) { return device >= 0 && device < cfg().devices; }

// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), per kernel.
std::mutex g_func_mutex;
std::unordered_map<const void*, size_t>& func_max_dynamic_shared() {
  static auto* m = new std::unordered_map<const void*, size_t>();
  return *m;
}

using kiln::emu::MemorySpace;

cudaError_t device_alloc(void** ptr, size_t size) {
  if (!ptr) return ret(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  if (size > total_memory() - std::min(total_memory(), g_in_use.load())) return ret(cudaErrorMemoryAllocation);
#if defined(KILN_EMU_ACCESS_COUNT)
  // cudaMalloc's 256-byte alignment, which sector counts depend on (access_count.h); elsewhere
  // the exact-size block lets AddressSanitizer see every overrun.
  void* p = std::aligned_alloc(256, (size + 255) / 256 * 256);
#else
  void* p = std::malloc(size);
#endif
  if (!p) return ret(cudaErrorMemoryAllocation);
  kiln::emu::record_allocation(p, size, MemorySpace::Device);
  g_in_use += size;
  *ptr = p;
  return cudaSuccess;
}

// A foreign pointer is refused, as a GPU does.
cudaError_t device_free(void* p) {
  if (!p) return cudaSuccess;
  kiln::emu::internal::quiesce();  // cudaFree waits for the device, as on a GPU
  size_t size = 0;
  if (!kiln::emu::forget_allocation(p, MemorySpace::Device, &size)) return ret(cudaErrorInvalidValue);
  g_in_use -= size;
  std::free(p);
  return cudaSuccess;
}

// cudaErrorInvalidValue for a copy whose kind does not match its pointers (see memory_map.cpp).
cudaError_t check_copy(const char* call, void* dst, const void* src, size_t count,
                       cudaMemcpyKind kind) {
  std::string why = kiln::emu::copy_error(call, dst, src, count, kind);
  return why.empty() ? cudaSuccess : fail(cudaErrorInvalidValue, std::move(why));
}

// Runs `work` now, or queues it on `stream` with deferred streams.
template <class F>
cudaError_t on_stream(cudaStream_t stream, F&& work) {
  if (kiln::emu::internal::deferring()) {
    kiln::emu::internal::submit(stream, std::forward<F>(work));
  } else {
    work();
  }
  return cudaSuccess;
}

bool pageable(const void* p) { return kiln::emu::memory_space(p) == MemorySpace::Host; }

// An asynchronous copy (arguments checked) as a GPU runs it: from pageable host memory the source
// is read during the call (staged), to pageable host memory the call waits for the stream and
// copies; copies between device and pinned memory are queued.
cudaError_t copy_async(void* dst, const void* src, size_t count, cudaStream_t stream) {
  using namespace kiln::emu::internal;
  if (count == 0) return cudaSuccess;
  if (!deferring()) {
    std::memmove(dst, src, count);
  } else if (pageable(dst)) {
    wait_for_stream(stream);
    std::memmove(dst, src, count);
  } else if (pageable(src)) {
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + count);
    submit(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    submit(stream, [dst, src, count] { std::memmove(dst, src, count); });
  }
  return cudaSuccess;
}

}  // namespace

namespace kiln::emu::internal {
int set_last_error(int e) { return ret(static_cast<cudaError_t>(e)); }
}  // namespace kiln::emu::internal

extern "C" {

cudaError_t cudaMalloc(void** devPtr, size_t size) { return device_alloc(devPtr, size); }
cudaError_t cudaFree(void* devPtr) { return device_free(devPtr); }
cudaError_t cudaMallocManaged(void** devPtr, size_t size, unsigned int) { return device_alloc(devPtr, size); }

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  if (!ptr) return ret(cudaErrorInvalidValue);
  *ptr = size ? std::malloc(size) : nullptr;
  if (size && !*ptr) return ret(cudaErrorMemoryAllocation);
  kiln::emu::record_allocation(*ptr, size, MemorySpace::PinnedHost);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** pHost, size_t size, unsigned int) { return cudaMallocHost(pHost, size); }
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  kiln::emu::internal::quiesce();  // queued copies may still use it, as on a GPU
  if (!kiln::emu::forget_allocation(ptr, MemorySpace::PinnedHost)) return ret(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

// Blocking copies run after the legacy default stream's work (and so every blocking stream's).
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  if (count && (!dst || !src)) return ret(cudaErrorInvalidValue);
  if (cudaError_t e = check_copy("cudaMemcpy", dst, src, count, kind)) return e;
  kiln::emu::internal::wait_for_legacy_stream();
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (count && (!dst || !src)) return ret(cudaErrorInvalidValue);
  if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, count, kind)) return e;
  return copy_async(dst, src, count, stream);
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                         size_t height, enum cudaMemcpyKind kind) {
  if (width > dpitch || width > spitch) return ret(cudaErrorInvalidPitchValue);
  if (height && width && (!dst || !src)) return ret(cudaErrorInvalidValue);
  if (height && width) {  // the kind, checked on the first row
    if (cudaError_t e = check_copy("cudaMemcpy2D", dst, src, width, kind)) return e;
  }
  kiln::emu::internal::wait_for_legacy_stream();
  for (size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}
// Device-to-device 2D copies are queued; others wait for the stream and copy.
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                              size_t height, enum cudaMemcpyKind kind, cudaStream_t stream) {
  if (width > dpitch || width > spitch) return ret(cudaErrorInvalidPitchValue);
  if (height && width && (!dst || !src)) return ret(cudaErrorInvalidValue);
  if (height && width) {
    if (cudaError_t e = check_copy("cudaMemcpy2DAsync", dst, src, width, kind)) return e;
  }
  auto copy = [=] {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  };
  if (kind == cudaMemcpyDeviceToDevice) return on_stream(stream, copy);
  kiln::emu::internal::wait_for_stream(stream);
  copy();
  return cudaSuccess;
}
cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t count, size_t offset,
                               enum cudaMemcpyKind) {
  kiln::emu::internal::wait_for_legacy_stream();
  if (count) std::memcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t count, size_t offset,
                                 enum cudaMemcpyKind) {
  kiln::emu::internal::wait_for_legacy_stream();
  if (count) std::memcpy(dst, static_cast<const char*>(symbol) + offset, count);
  return cudaSuccess;
}
// Symbol copies wait for their stream and copy (kiln has no __constant__ data to overlap).
cudaError_t cudaMemcpyToSymbolAsync(const void* symbol, const void* src, size_t count, size_t offset,
                                    enum cudaMemcpyKind, cudaStream_t stream) {
  kiln::emu::internal::wait_for_stream(stream);
  if (count) std::memcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbolAsync(void* dst, const void* symbol, size_t count, size_t offset,
                                      enum cudaMemcpyKind, cudaStream_t stream) {
  kiln::emu::internal::wait_for_stream(stream);
  if (count) std::memcpy(dst, static_cast<const char*>(symbol) + offset, count);
  return cudaSuccess;
}
// cudaMemset of device memory is asynchronous on a GPU too (ordered on the legacy stream).
cudaError_t cudaMemset(void* devPtr, int value, size_t count) { return cudaMemsetAsync(devPtr, value, count, nullptr); }
cudaError_t cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream) {
  if (count && !devPtr) return ret(cudaErrorInvalidValue);
  if (cudaError_t e = check_copy("cudaMemset", devPtr, devPtr, count, cudaMemcpyDeviceToDevice)) return e;
  if (count == 0) return cudaSuccess;
  return on_stream(stream, [=] { std::memset(devPtr, value, count); });
}

cudaError_t cudaDeviceReset(void) { return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return ret(cudaErrorInvalidValue);
  *count = cfg().devices;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (!valid_device(device)) return ret(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return ret(cudaErrorInvalidValue);
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device) {
  if (!prop) return ret(cudaErrorInvalidValue);
  if (!valid_device(device)) return ret(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "kiln CUDA emulator");
  std::memcpy(prop->uuid.bytes, "kiln-emulator-00", 16);
  prop->uuid.bytes[15] = static_cast<char>('0' + device % 10);
  prop->pciDeviceID = device;
  prop->totalGlobalMem = total_memory();
  prop->sharedMemPerBlock = kSharedPerBlock;
  prop->sharedMemPerBlockOptin = kSharedOptin;
  prop->sharedMemPerMultiprocessor = kSharedPerSm;
  prop->reservedSharedMemPerBlock = 1024;
  prop->regsPerBlock = 65536;
  prop->regsPerMultiprocessor = 65536;
  prop->warpSize = 32;
  prop->memPitch = 2147483647;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->totalConstMem = 65536;
  prop->major = cfg().sm / 10;
  prop->minor = cfg().sm % 10;
  prop->textureAlignment = 512;
  prop->texturePitchAlignment = 32;
  prop->multiProcessorCount = kiln::emu::worker_count();
  prop->integrated = 1;
  prop->canMapHostMemory = 1;
  prop->concurrentKernels = 0;
  prop->unifiedAddressing = 1;
  prop->memoryBusWidth = 64;
  prop->l2CacheSize = 4 << 20;
  prop->maxThreadsPerMultiProcessor = cfg().max_threads_per_sm;
  prop->maxBlocksPerMultiProcessor = cfg().max_blocks_per_sm;
  prop->streamPrioritiesSupported = 0;
  prop->globalL1CacheSupported = 1;
  prop->localL1CacheSupported = 1;
  prop->managedMemory = 1;
  prop->hostNativeAtomicSupported = 1;
  prop->pageableMemoryAccess = 1;
  prop->concurrentManagedAccess = 1;
  prop->directManagedMemAccessFromHost = 1;
  prop->cooperativeLaunch = 0;
  prop->deviceNumaId = -1;
  prop->hostNumaId = -1;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  if (!value) return ret(cudaErrorInvalidValue);
  if (!valid_device(device)) return ret(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxBlockDimX: *value = 1024; break;
    case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY: *value = 65535; break;
    case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(kSharedPerBlock); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(kSharedOptin); break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(kSharedPerSm); break;
    case cudaDevAttrTotalConstantMemory: *value = 65536; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = 65536; break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = 65536; break;
    case cudaDevAttrClockRate: *value = 1000000; break;
    case cudaDevAttrMemoryClockRate: *value = 1000000; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = 64; break;
    case cudaDevAttrL2CacheSize: *value = 4 << 20; break;
    case cudaDevAttrMultiProcessorCount: *value = kiln::emu::worker_count(); break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = cfg().max_threads_per_sm; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = cfg().max_blocks_per_sm; break;
    case cudaDevAttrComputeCapabilityMajor: *value = cfg().sm / 10; break;
    case cudaDevAttrComputeCapabilityMinor: *value = cfg().sm % 10; break;
    case cudaDevAttrConcurrentKernels: *value = 0; break;
    case cudaDevAttrUnifiedAddressing: *value = 1; break;
    case cudaDevAttrManagedMemory: *value = 1; break;
    case cudaDevAttrIntegrated: *value = 1; break;
    case cudaDevAttrCanMapHostMemory: *value = 1; break;
    case cudaDevAttrPageableMemoryAccess: *value = 1; break;
    case cudaDevAttrCooperativeLaunch: *value = 0; break;
    case cudaDevAttrComputeMode: *value = cudaComputeModeDefault; break;
    case cudaDevAttrEccEnabled: *value = 0; break;
    default: *value = 0; return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (!free || !total) return ret(cudaErrorInvalidValue);
  *total = total_memory();
  const size_t used = g_in_use.load();
  *free = used < *total ? *total - used : 0;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* driverVersion) {
  if (!driverVersion) return ret(cudaErrorInvalidValue);
  *driverVersion = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* runtimeVersion) {
  if (!runtimeVersion) return ret(cudaErrorInvalidValue);
  *runtimeVersion = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
  return static_cast<cudaError_t>(g_last_error.exchange(cudaSuccess, std::memory_order_relaxed));
}
cudaError_t cudaPeekAtLastError(void) {
  return static_cast<cudaError_t>(g_last_error.load(std::memory_order_relaxed));
}
cudaError_t cudaDeviceSetLimit(enum cudaLimit, size_t) { return cudaSuccess; }
cudaError_t cudaDeviceGetLimit(size_t* pValue, enum cudaLimit limit) {
  if (!pValue) return ret(cudaErrorInvalidValue);
  switch (limit) {
    case cudaLimitStackSize: *pValue = kiln::emu::StackPool::configured_size(); break;
    case cudaLimitPrintfFifoSize: *pValue = 1 << 20; break;
    case cudaLimitMallocHeapSize: *pValue = 8 << 20; break;
    default: *pValue = 0; break;
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (!func) return ret(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > kSharedOptin) return ret(cudaErrorInvalidValue);
    std::lock_guard lock(g_func_mutex);
    func_max_dynamic_shared()[func] = static_cast<size_t>(value);
  }
  return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes* attr, const void* func) {
  if (!attr) return ret(cudaErrorInvalidValue);
  if (!func) return ret(cudaErrorInvalidDeviceFunction);
  std::memset(attr, 0, sizeof *attr);
  attr->maxThreadsPerBlock = 1024;
  attr->numRegs = 32;
  attr->ptxVersion = cfg().sm;
  attr->binaryVersion = cfg().sm;
  attr->maxDynamicSharedSizeBytes = static_cast<int>(kiln::emu::max_dynamic_shared(func));
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* numBlocks, const void* func,
                                                          int blockSize, size_t dynamicSMemSize) {
  if (!numBlocks || blockSize <= 0) return ret(cudaErrorInvalidValue);
  if (!func) return ret(cudaErrorInvalidDeviceFunction);
  int by_threads = cfg().max_threads_per_sm / blockSize;
  int by_shared = dynamicSMemSize ? static_cast<int>(kSharedPerSm / (dynamicSMemSize + 1024)) : 32;
  *numBlocks = std::max(0, std::min({by_threads, by_shared, cfg().max_blocks_per_sm}));
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes* attributes, const void* ptr) {
  if (!attributes) return ret(cudaErrorInvalidValue);
  std::memset(attributes, 0, sizeof *attributes);
  switch (kiln::emu::memory_space(ptr)) {
    case MemorySpace::Device: attributes->type = cudaMemoryTypeDevice; break;
    case MemorySpace::PinnedHost: attributes->type = cudaMemoryTypeHost; break;
    case MemorySpace::Host: attributes->type = cudaMemoryTypeUnregistered; break;
  }
  attributes->device = 0;
  attributes->devicePointer = const_cast<void*>(ptr);
  attributes->hostPointer = const_cast<void*>(ptr);
  return cudaSuccess;
}
cudaError_t cudaLaunchKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  // Kernels are launched through kiln::launch (kernels/launch.cuh), which knows their argument
  // types; an untyped argument array cannot be replayed on the CPU.
  return ret(cudaErrorNotSupported);
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
#define KILN_EMU_ERR(name, text) \
  case name: return #name;
#include "kernels/emu/errors.inc"
#undef KILN_EMU_ERR
    default: return "cudaErrorUnknown";
  }
}
static const char* plain_error_string(cudaError_t error) {
  switch (error) {
#define KILN_EMU_ERR(name, text) \
  case name: return text;
#include "kernels/emu/errors.inc"
#undef KILN_EMU_ERR
    default: return "unrecognized error code";
  }
}
// The CUDA text, plus why the calling thread's last call failed with this status if the emulator
// knows more (a copy of the wrong kind, ...).
const char* cudaGetErrorString(cudaError_t error) {
  if (t_detail.empty() || error != t_detail_error) return plain_error_string(error);
  thread_local std::string text;
  text = fmt::format("{}: {}", plain_error_string(error), t_detail);
  return text.c_str();
}

}  // extern "C"

namespace kiln::emu {

// KILN_EMU_SM and KILN_EMU_DEVICES, read once. Limits per compute capability: CUDA C Programming
// Guide, "Technical Specifications per Compute Capability".
const DeviceConfig& device_config() {
  static const DeviceConfig config = [] {
    DeviceConfig c;
    if (const char* e = std::getenv("KILN_EMU_SM"); e && *e) {
      const int sm = std::atoi(e);
      if (sm == 80 || sm == 86 || sm == 89 || sm == 90) {
        c.sm = sm;
      } else {
        std::fprintf(stderr, "kiln emulator: ignoring KILN_EMU_SM=%s (want 80, 86, 89 or 90)\n", e);
      }
    }
    switch (c.sm) {
      case 80:
        c.shared_optin = 163 * 1024, c.shared_per_sm = 164 * 1024;
        c.max_threads_per_sm = 2048, c.max_blocks_per_sm = 32;
        break;
      case 86:
        c.shared_optin = 99 * 1024, c.shared_per_sm = 100 * 1024;
        c.max_threads_per_sm = 1536, c.max_blocks_per_sm = 16;
        break;
      case 89:
        c.shared_optin = 99 * 1024, c.shared_per_sm = 100 * 1024;
        c.max_threads_per_sm = 1536, c.max_blocks_per_sm = 24;
        break;
      default:
        c.shared_optin = 227 * 1024, c.shared_per_sm = 228 * 1024;
        c.max_threads_per_sm = 2048, c.max_blocks_per_sm = 32;
        break;
    }
    if (const char* e = std::getenv("KILN_EMU_DEVICES"); e && *e) {
      const int n = std::atoi(e);
      if (n >= 1 && n <= 64) {
        c.devices = n;
      } else {
        std::fprintf(stderr, "kiln emulator: ignoring KILN_EMU_DEVICES=%s (want 1..64)\n", e);
      }
    }
    return c;
  }();
  return config;
}

size_t max_dynamic_shared(const void* kernel) {
  std::lock_guard lock(g_func_mutex);
  const auto& m = func_max_dynamic_shared();
  const auto it = m.find(kernel);
  return it == m.end() ? device_config().shared_per_block : it->second;
}

}  // namespace kiln::emu
