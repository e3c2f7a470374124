#include "core/allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>

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
  ~CudaMemory() override {
    for (cudaEvent_t event : spare_events_) cudaEventDestroy(event);  // at exit: errors do not matter
  }
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

  void* record_event(void* stream) override {
    set_current_device(device_);
    cudaEvent_t event = nullptr;
    if (spare_events_.empty()) {
      KILN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    } else {
      event = spare_events_.back();
      spare_events_.pop_back();
    }
    KILN_CUDA_CHECK(cudaEventRecord(event, static_cast<cudaStream_t>(stream)));
    return event;
  }
  bool event_done(void* event) override {
    const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (status == cudaErrorNotReady) {
      cudaGetLastError();  // "not ready" is an answer, not an error
      return false;
    }
    KILN_CUDA_CHECK(status);
    return true;
  }
  void wait_event(void* event) override { KILN_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event))); }
  // Events are reused: creating one per cross-stream free would cost a driver call each time.
  // Out of host memory for the spare list, the event is destroyed instead: a free must not throw.
  void release_event(void* event) override {
    try {
      spare_events_.push_back(static_cast<cudaEvent_t>(event));
    } catch (const std::bad_alloc&) {
      cudaEventDestroy(static_cast<cudaEvent_t>(event));
    }
  }

 private:
  Device device_;
  std::vector<cudaEvent_t> spare_events_;  // guarded by the allocator's mutex
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
    wait_pending_locked();
    release_cached_locked();
  } catch (const Error&) {
    // Process exit: the driver reclaims device memory anyway.
  }
  // Blocks still live at exit belong to objects destroyed after us (static tensors); leave them.
}

void* CachingAllocator::allocate(size_t bytes) { return allocate(bytes, Stream::default_for(device())); }

void* CachingAllocator::allocate(size_t bytes, const Stream& stream) {
  if (bytes == 0) return nullptr;
  KILN_CHECK(stream.device() == device(), "allocate: a stream of {} given to the {} allocator",
             stream.device().str(), device().str());
  const size_t cls = size_class(bytes);
  std::lock_guard lock(mutex_);
  ++stats_.allocations;
  collect_completed_locked();
  void* ptr = take_cached_locked(stream.native(), cls);
  if (ptr != nullptr) {
    ++stats_.cache_hits;
  } else {
    ptr = allocate_raw_locked(bytes, cls);
  }
  try {
    live_.emplace(ptr, Block{cls, stream.native(), {}});
  } catch (const std::bad_alloc&) {  // no host memory left to track the block: give it back
    cache_locked(stream.native(), cls, ptr);
    throw OutOfMemory(fmt::format("out of host memory while allocating {} ({} bytes) on {}", format_bytes(bytes),
                                  bytes, raw_->device().str()));
  }
  stats_.in_use += cls;
  if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
  return ptr;
}

void* CachingAllocator::take_cached_locked(void* stream, size_t cls) {
  auto it = free_.find({stream, cls});
  if (it == free_.end() || it->second.empty()) return nullptr;
  void* ptr = it->second.back();
  it->second.pop_back();
  stats_.cached -= cls;
  return ptr;
}

void* CachingAllocator::allocate_raw_locked(size_t bytes, size_t cls) {
  auto fits = [&] { return stats_.in_use + stats_.cached + stats_.pending + cls <= limit_; };
  void* ptr = fits() ? raw_->allocate(cls) : nullptr;
  if (ptr == nullptr) {  // out of memory: wait for pending blocks, give the cache back, try once more
    wait_pending_locked();
    release_cached_locked();
    if (fits()) ptr = raw_->allocate(cls);
  }
  if (ptr == nullptr) {
    std::string note = raw_->capacity_note();
    if (limit_ != kNoLimit) note += (note.empty() ? "" : "; ") + fmt::format("kiln's limit is {}", format_bytes(limit_));
    throw OutOfMemory(fmt::format("out of memory on {}: asked for {} ({} bytes), {} already in use by kiln (peak {}){}{}",
                     raw_->device().str(), format_bytes(bytes), bytes, format_bytes(stats_.in_use),
                     format_bytes(stats_.peak), note.empty() ? "" : "; ", note));
  }
  return ptr;
}

void CachingAllocator::record_stream(void* ptr, const Stream& stream) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  KILN_CHECK(it != live_.end(), "record_stream: {} is not a live block of the {} allocator", ptr,
             raw_->device().str());
  Block& block = it->second;
  if (stream.native() == block.stream) return;
  auto& others = block.other_streams;
  if (std::find(others.begin(), others.end(), stream.native()) == others.end()) others.push_back(stream.native());
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  KILN_CHECK(it != live_.end(), "deallocate: {} was not allocated by the {} allocator", ptr,
             raw_->device().str());
  Block block = std::move(it->second);
  live_.erase(it);
  stats_.in_use -= block.cls;
  if (block.other_streams.empty()) {
    cache_locked(block.stream, block.cls, ptr);
    return;
  }
  // Nothing below may escape: deallocate runs in destructors, often while an out-of-memory error
  // unwinds, when the host may have no memory left for a free list or an event.
  std::vector<void*> events;
  try {
    pending_.reserve(pending_.size() + 1);  // the push_back below cannot throw then
    events.reserve(block.other_streams.size());
    for (void* stream : block.other_streams) {
      if (void* event = raw_->record_event(stream)) events.push_back(event);
    }
  } catch (...) {
    // The backend's release waits for the device (cudaFree synchronises), so the block goes back
    // to it rather than to a free list, without events.
    for (void* event : events) {
      try {
        raw_->release_event(event);
      } catch (...) {  // an event lost, not the process
      }
    }
    release_raw_locked(ptr);
    return;
  }
  if (events.empty()) {
    cache_locked(block.stream, block.cls, ptr);
  } else {
    stats_.pending += block.cls;
    pending_.push_back({ptr, std::move(block), std::move(events)});
  }
}

void CachingAllocator::cache_locked(void* stream, size_t cls, void* ptr) noexcept {
  try {
    free_[{stream, cls}].push_back(ptr);
    stats_.cached += cls;
  } catch (...) {  // no host memory for the free list: the block goes back to the backend
    release_raw_locked(ptr);
  }
}

void CachingAllocator::release_raw_locked(void* ptr) noexcept {
  try {
    raw_->release(ptr);
  } catch (...) {
    // The backend failed to take it back (a broken device): the block is lost, not the process.
  }
}

// Pending blocks whose events have all completed join their stream's free list.
void CachingAllocator::collect_completed_locked() {
  auto done = [&](Pending& p) {
    std::erase_if(p.events, [&](void* e) {
      if (!raw_->event_done(e)) return false;
      raw_->release_event(e);
      return true;
    });
    if (!p.events.empty()) return false;
    stats_.pending -= p.block.cls;
    cache_locked(p.block.stream, p.block.cls, p.ptr);
    return true;
  };
  std::erase_if(pending_, done);
}

void CachingAllocator::wait_pending_locked() {
  for (Pending& p : pending_) {
    for (void* e : p.events) raw_->wait_event(e);
  }
  collect_completed_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [key, blocks] : free_) {
    for (void* ptr : blocks) raw_->release(ptr);
    stats_.cached -= key.second * blocks.size();
    blocks.clear();
  }
  free_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  collect_completed_locked();
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
