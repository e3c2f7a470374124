// The CUDA runtime API as the emulated device provides it: the functions that cuda_runtime_api.h
// declares (same names after the header's own macro renames, same signatures, C linkage), so the
// rest of kiln calls cudaMalloc & co in both the `cuda` and the `emulate` build.
//
// Semantics: one device (index 0) backed by host memory; device memory is plain malloc (so ASan
// and the heap checkers see every buffer); copies, memsets and kernel launches run when they are
// called, or, with deferred streams, when their stream's work is needed (streams.cpp, which also
// has the stream and event API); events time with the steady clock. A failing call sets the last
// error, which cudaGetLastError returns and resets, as on a GPU.
#include <cuda_runtime.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/stack_pool.h"

namespace {

std::atomic<int> g_last_error{cudaSuccess};
thread_local int t_device = 0;
std::atomic<size_t> g_in_use{0};

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) g_last_error.store(e, std::memory_order_relaxed);
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

// Device allocations and their sizes (for cudaMemGetInfo and to reject foreign pointers in
// cudaFree, as a GPU does).
std::mutex g_alloc_mutex;
std::unordered_map<void*, size_t>& allocations() {
  static auto* m = new std::unordered_map<void*, size_t>();  // outlives static destructors
  return *m;
}

cudaError_t device_alloc(void** ptr, size_t size) {
  if (!ptr) return ret(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  if (size > total_memory() - std::min(total_memory(), g_in_use.load())) return ret(cudaErrorMemoryAllocation);
  void* p = std::malloc(size);
  if (!p) return ret(cudaErrorMemoryAllocation);
  {
    std::lock_guard lock(g_alloc_mutex);
    allocations()[p] = size;
  }
  g_in_use += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t device_free(void* p) {
  if (!p) return cudaSuccess;
  kiln::emu::internal::quiesce();  // cudaFree waits for the device, as on a GPU
  size_t size = 0;
  {
    std::lock_guard lock(g_alloc_mutex);
    auto it = allocations().find(p);
    if (it == allocations().end()) return ret(cudaErrorInvalidValue);
    size = it->second;
    allocations().erase(it);
  }
  g_in_use -= size;
  std::free(p);
  return cudaSuccess;
}

// Pinned host memory (cudaMallocHost): copies to and from it stay asynchronous, as on a GPU.
std::mutex g_pinned_mutex;
std::map<const char*, size_t>& pinned_blocks() {
  static auto* m = new std::map<const char*, size_t>();
  return *m;
}
bool pinned(const void* p) {
  std::lock_guard lock(g_pinned_mutex);
  const auto& m = pinned_blocks();
  auto it = m.upper_bound(static_cast<const char*>(p));
  if (it == m.begin()) return false;
  --it;
  return static_cast<const char*>(p) < it->first + it->second;
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

// An asynchronous copy as a GPU runs it: from pageable host memory the source is read during the
// call (staged), to pageable host memory the call waits for the stream and copies; copies between
// device and pinned memory are queued. cudaMemcpyDefault waits and copies (which memory a
// pointer is in is not looked up).
cudaError_t copy_async(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  using namespace kiln::emu::internal;
  if (count && (!dst || !src)) return ret(cudaErrorInvalidValue);
  if (count == 0) return cudaSuccess;
  if (!deferring()) {
    std::memmove(dst, src, count);
    return cudaSuccess;
  }
  const bool host_src = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyHostToHost;
  const bool host_dst = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost;
  if (kind == cudaMemcpyDefault || (host_dst && !pinned(dst))) {
    wait_for_stream(stream);
    std::memmove(dst, src, count);
  } else if (host_src && !pinned(src)) {
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
  if (*ptr) {
    std::lock_guard lock(g_pinned_mutex);
    pinned_blocks()[static_cast<const char*>(*ptr)] = size;
  }
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** pHost, size_t size, unsigned int) { return cudaMallocHost(pHost, size); }
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  kiln::emu::internal::quiesce();  // queued copies may still use it
  {
    std::lock_guard lock(g_pinned_mutex);
    pinned_blocks().erase(static_cast<const char*>(ptr));
  }
  std::free(ptr);
  return cudaSuccess;
}

// Blocking copies run after the legacy default stream's work (and so every blocking stream's).
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  if (count && (!dst || !src)) return ret(cudaErrorInvalidValue);
  kiln::emu::internal::wait_for_legacy_stream();
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return copy_async(dst, src, count, kind, stream);
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                         size_t height, enum cudaMemcpyKind) {
  if (width > dpitch || width > spitch) return ret(cudaErrorInvalidPitchValue);
  if (height && width && (!dst || !src)) return ret(cudaErrorInvalidValue);
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
  bool device = false;
  {
    std::lock_guard lock(g_alloc_mutex);
    device = allocations().count(const_cast<void*>(ptr)) != 0;
  }
  attributes->type = device ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
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
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
#define KILN_EMU_ERR(name, text) \
  case name: return text;
#include "kernels/emu/errors.inc"
#undef KILN_EMU_ERR
    default: return "unrecognized error code";
  }
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
