#include "core/allocator.h"

#include <fmt/format.h>

#include <bit>
#include <cstdlib>

#include "core/error.h"

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {
namespace {

class HostMemory final : public RawMemory {
 public:
  void* allocate(size_t bytes) override {
    // 64-byte alignment: cache lines and the widest vector loads.
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void release(void* ptr) override { std::free(ptr); }
  Device device() const override { return Device::cpu(); }
};

#if KILN_WITH_DEVICE
class CudaMemory final : public RawMemory {
 public:
  explicit CudaMemory(Device device) : device_(device) {}
  void* allocate(size_t bytes) override {
    set_current_device(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    KILN_CUDA_CHECK(status);
    return ptr;
  }
  void release(void* ptr) override {
    set_current_device(device_);
    const cudaError_t status = cudaFree(ptr);
    if (status == cudaErrorCudartUnloading) return;  // at exit, after the runtime shut down
    KILN_CUDA_CHECK(status);
  }
  Device device() const override { return device_; }
  std::string capacity_note() const override {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      cudaGetLastError();
      return {};
    }
    return fmt::format("the device has {} free of {}", format_bytes(free_bytes), format_bytes(total_bytes));
  }

 private:
  Device device_;
};
#endif

}  // namespace

std::string format_bytes(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.2f} GiB", bytes / double(1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f} MiB", bytes / double(1ull << 20));
  if (bytes >= (1ull << 10)) return fmt::format("{:.1f} KiB", bytes / double(1ull << 10));
  return fmt::format("{} B", bytes);
}

size_t CachingAllocator::size_class(size_t bytes) {
  constexpr size_t kMin = 256;
  if (bytes <= kMin) return kMin;
  // Four classes per power of two: step = 2^(floor(log2(bytes-1)) - 2).
  const int shift = std::bit_width(bytes - 1) - 3;
  const size_t step = size_t{1} << shift;
  return (bytes + step - 1) & ~(step - 1);
}

CachingAllocator::CachingAllocator(std::unique_ptr<RawMemory> raw) : raw_(std::move(raw)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(mutex_);
  try {
    release_cached_locked();
  } catch (const Error&) {
    // Process exit: the driver reclaims device memory anyway.
  }
  // Blocks still live at exit belong to objects destroyed after us (static tensors); leave them.
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t cls = size_class(bytes);
  std::lock_guard lock(mutex_);
  ++stats_.allocations;
  void* ptr = nullptr;
  if (auto it = free_.find(cls); it != free_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    stats_.cached -= cls;
    ++stats_.cache_hits;
  } else {
    auto fits = [&] { return stats_.in_use + stats_.cached + cls <= limit_; };
    if (fits()) ptr = raw_->allocate(cls);
    if (ptr == nullptr) {  // out of memory: give the cache back and try once more
      release_cached_locked();
      if (fits()) ptr = raw_->allocate(cls);
    }
    if (ptr == nullptr) {
      std::string note = raw_->capacity_note();
      if (limit_ != kNoLimit) note += (note.empty() ? "" : "; ") + fmt::format("kiln's limit is {}", format_bytes(limit_));
      fail(fmt::format("out of memory on {}: asked for {} ({} bytes), {} already in use by kiln (peak {}){}{}",
                       raw_->device().str(), format_bytes(bytes), bytes, format_bytes(stats_.in_use),
                       format_bytes(stats_.peak), note.empty() ? "" : "; ", note));
    }
  }
  live_.emplace(ptr, cls);
  stats_.in_use += cls;
  if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
  return ptr;
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  KILN_CHECK(it != live_.end(), "deallocate: {} was not allocated by the {} allocator", ptr,
             raw_->device().str());
  const size_t cls = it->second;
  live_.erase(it);
  stats_.in_use -= cls;
  stats_.cached += cls;
  free_[cls].push_back(ptr);
}

void CachingAllocator::release_cached_locked() {
  for (auto& [cls, blocks] : free_) {
    for (void* ptr : blocks) raw_->release(ptr);
    stats_.cached -= cls * blocks.size();
    blocks.clear();
  }
  free_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak = stats_.in_use;
}

void CachingAllocator::set_limit(uint64_t bytes) {
  std::lock_guard lock(mutex_);
  limit_ = bytes;
}

CachingAllocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    static CachingAllocator cpu(std::make_unique<HostMemory>());
    return cpu;
  }
#if KILN_WITH_DEVICE
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<CachingAllocator>> per_device;
  std::lock_guard lock(mutex);
  auto& slot = per_device[device.index];
  if (!slot) slot = std::make_unique<CachingAllocator>(std::make_unique<CudaMemory>(device));
  return *slot;
#else
  fail(fmt::format("no allocator for {}: this kiln was built without GPU support", device.str()));
#endif
}

}  // namespace kiln
