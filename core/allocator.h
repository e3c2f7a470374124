// Memory for tensors: a stream-ordered caching allocator per device in front of a raw backend.
//
// Freed blocks go back to a free list of their size class (4 classes per power of two, at least
// 256 bytes, so a request wastes at most 25%) and are handed out again without a trip to
// cudaMalloc/malloc, which on a GPU synchronises the device. When the backend runs out, the cache
// is released and the request retried once; if it still fails, kiln::OutOfMemory says how much was asked
// and how much is in use. A byte limit can be set per device (useful for testing and for sharing
// a GPU).
//
// Stream order (the rule of PyTorch's caching allocator): a block belongs to the stream it was
// allocated on, and its free list is that stream's. Freeing does not wait for the GPU: work queued
// on the block's own stream before the free runs before any later user of the block on that same
// stream, so the block is reusable there at once. A block also used on other streams must be
// declared with record_stream(ptr, stream); freeing it then records an event on each of those
// streams, and the block joins its free list only when every event has completed (polled with
// cudaEventQuery at the next allocate; when memory runs out, the events are waited for before the
// cache is released and the request retried). Blocks are never handed across streams: a stream
// that needs memory another stream has cached gets it only after that cache is released
// (cudaFree, which waits for the device). Existing callers that name no stream use the device's
// default stream. On the CPU streams are tags and all work is complete when it returns, so the
// host allocator needs no events (RawMemory's defaults).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/stream.h"

namespace kiln {

struct MemoryStats {
  uint64_t in_use = 0;       // bytes handed out and not yet freed (by size class)
  uint64_t peak = 0;         // the most in_use has been since the last reset_peak()
  uint64_t cached = 0;       // bytes held in free lists, ready for reuse
  uint64_t pending = 0;      // bytes freed but waiting for other streams' work (events) first
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

  // Events that order a block's reuse after work on other streams (handles as void*, streams as
  // Stream::native()). The defaults are those of a backend whose work is complete when it
  // returns (the host): no event, nothing to wait for.
  virtual void* record_event([[maybe_unused]] void* stream) { return nullptr; }
  virtual bool event_done([[maybe_unused]] void* event) { return true; }
  virtual void wait_event([[maybe_unused]] void* event) {}
  virtual void release_event([[maybe_unused]] void* event) {}
};

class CachingAllocator {
 public:
  static constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

  explicit CachingAllocator(std::unique_ptr<RawMemory> raw);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` for work on `stream` (0 allowed: returns nullptr). Throws
  // kiln::Error when out of memory.
  void* allocate(size_t bytes, const Stream& stream);
  // The same on the device's default stream.
  void* allocate(size_t bytes);
  // Declares that work on `stream` (another than the block's own) uses the block: freeing it will
  // wait for that work. `ptr` is a block from allocate().
  void record_stream(void* ptr, const Stream& stream);
  // Returns a block from allocate() to the cache (see the stream rule above). nullptr is ignored.
  // Never throws for a block of this allocator, even out of host memory (it runs in destructors):
  // a block whose free list cannot grow goes back to the backend instead. A pointer that is not a
  // live block (a bug) is a kiln::Error.
  void deallocate(void* ptr);
  // Gives every cached block back to the backend (blocks still waiting for events stay).
  void empty_cache();

  MemoryStats stats() const;
  void reset_peak();
  // Caps in_use + cached; kNoLimit by default.
  void set_limit(uint64_t bytes);
  Device device() const { return raw_->device(); }

  // The size class a request is rounded up to.
  static size_t size_class(size_t bytes);

 private:
  struct Block {
    size_t cls = 0;                    // size class
    void* stream = nullptr;            // the stream it was allocated on (its free list)
    std::vector<void*> other_streams;  // from record_stream
  };
  struct Pending {  // freed, waiting for events on other streams
    void* ptr;
    Block block;
    std::vector<void*> events;
  };
  using FreeKey = std::pair<void*, size_t>;  // (stream, size class)

  void* take_cached_locked(void* stream, size_t cls);
  void* allocate_raw_locked(size_t bytes, size_t cls);
  void collect_completed_locked();
  void wait_pending_locked();
  void release_cached_locked();
  // The block joins its free list, or goes back to the backend if the list cannot grow.
  void cache_locked(void* stream, size_t cls, void* ptr) noexcept;
  void release_raw_locked(void* ptr) noexcept;
  std::unique_ptr<RawMemory> raw_;
  mutable std::mutex mutex_;
  std::map<FreeKey, std::vector<void*>> free_;  // (stream, size class) -> cached blocks
  std::unordered_map<void*, Block> live_;
  std::vector<Pending> pending_;
  MemoryStats stats_;
  uint64_t limit_ = kNoLimit;
};

// The process-wide allocator of a device (created on first use).
CachingAllocator& allocator_for(Device device);

// "1.50 GiB", "12.0 MiB", "512 B".
std::string format_bytes(uint64_t bytes);

}  // namespace kiln
