// Memory for tensors: a caching allocator per device in front of a raw backend.
//
// Freed blocks go back to a free list of their size class (4 classes per power of two, at least
// 256 bytes, so a request wastes at most 25%) and are handed out again without a trip to
// cudaMalloc/malloc, which on a GPU synchronises the device. When the backend runs out, the cache
// is released and the request retried once; if it still fails, kiln::Error says how much was asked
// and how much is in use. A byte limit can be set per device (useful for testing and for sharing
// a GPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/device.h"

namespace kiln {

struct MemoryStats {
  uint64_t in_use = 0;       // bytes handed out and not yet freed (by size class)
  uint64_t peak = 0;         // the most in_use has been since the last reset_peak()
  uint64_t cached = 0;       // bytes held in free lists, ready for reuse
  uint64_t allocations = 0;  // allocate() calls
  uint64_t cache_hits = 0;   // of which served from the cache
};

// Where the bytes come from: malloc for the CPU, cudaMalloc for a CUDA device.
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  // nullptr when the memory is exhausted; other failures throw kiln::Error.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr) = 0;
  virtual Device device() const = 0;
  // Extra words for an out-of-memory message, e.g. "the device has 1.2 GiB free of 80 GiB".
  virtual std::string capacity_note() const { return {}; }
};

class CachingAllocator {
 public:
  static constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

  explicit CachingAllocator(std::unique_ptr<RawMemory> raw);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (0 allowed: returns nullptr). Throws kiln::Error when out of memory.
  void* allocate(size_t bytes);
  // Returns a block from allocate() to the cache. nullptr is ignored.
  void deallocate(void* ptr);
  // Gives every cached block back to the backend.
  void empty_cache();

  MemoryStats stats() const;
  void reset_peak();
  // Caps in_use + cached; kNoLimit by default.
  void set_limit(uint64_t bytes);
  Device device() const { return raw_->device(); }

  // The size class a request is rounded up to.
  static size_t size_class(size_t bytes);

 private:
  void release_cached_locked();
  std::unique_ptr<RawMemory> raw_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;      // size class -> cached blocks
  std::unordered_map<void*, size_t> live_;         // block -> size class
  MemoryStats stats_;
  uint64_t limit_ = kNoLimit;
};

// The process-wide allocator of a device (created on first use).
CachingAllocator& allocator_for(Device device);

// "1.50 GiB", "12.0 MiB", "512 B".
std::string format_bytes(uint64_t bytes);

}  // namespace kiln
