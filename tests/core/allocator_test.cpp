#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <set>

#include "core/allocator.h"
#include "core/error.h"
#include "core/stream.h"

// While a FailingNew lives, every operator new of its thread throws std::bad_alloc: the host out
// of memory, as when a net is destroyed after an allocation failed.
namespace {
thread_local bool g_fail_new = false;
struct FailingNew {
  FailingNew() { g_fail_new = true; }
  ~FailingNew() { g_fail_new = false; }
  FailingNew(const FailingNew&) = delete;
  FailingNew& operator=(const FailingNew&) = delete;
};
}  // namespace

// The library's operator delete frees with std::free, which matches.
void* operator new(std::size_t bytes) {
  if (g_fail_new) throw std::bad_alloc();
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}

namespace kiln {
namespace {

// A backend with a fixed capacity that counts trips to it.
class FakeMemory final : public RawMemory {
 public:
  explicit FakeMemory(uint64_t capacity, int* calls) : capacity_(capacity), calls_(calls) {}
  void* allocate(size_t bytes) override {
    ++*calls_;
    if (used_ + bytes > capacity_) return nullptr;
    used_ += bytes;
    void* p = std::malloc(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void release(void* p) override {
    used_ -= sizes_[p];
    sizes_.erase(p);
    std::free(p);
  }
  Device device() const override { return Device::cuda(3); }
  std::string capacity_note() const override { return "the fake device has 0 B free"; }

  // Events the test completes by hand: finish(stream) is "the GPU got through its work".
  void* record_event(void* stream) override {
    events_.push_back({stream, false});
    return reinterpret_cast<void*>(events_.size());  // 1-based index
  }
  bool event_done(void* event) override { return at(event).done; }
  void wait_event(void* event) override {
    ++waits;
    at(event).done = true;
  }
  void release_event(void* event) override { ++released; (void)at(event); }
  void finish(const Stream& stream) {
    for (FakeEvent& e : events_)
      if (e.stream == stream.native()) e.done = true;
  }
  int recorded() const { return static_cast<int>(events_.size()); }
  int waits = 0, released = 0;

 private:
  struct FakeEvent {
    void* stream;
    bool done;
  };
  FakeEvent& at(void* event) { return events_.at(reinterpret_cast<size_t>(event) - 1); }
  uint64_t capacity_, used_ = 0;
  int* calls_;
  std::map<void*, size_t> sizes_;
  std::vector<FakeEvent> events_;
};

// Distinct streams of the fake device (tags: nothing runs on them).
Stream fake_stream(uintptr_t tag) { return Stream::wrap(Device::cuda(3), reinterpret_cast<void*>(tag)); }

TEST(Allocator, SizeClassesWasteAtMostAQuarter) {
  EXPECT_EQ(CachingAllocator::size_class(1), 256u);
  EXPECT_EQ(CachingAllocator::size_class(256), 256u);
  EXPECT_EQ(CachingAllocator::size_class(257), 320u);
  EXPECT_EQ(CachingAllocator::size_class(1024), 1024u);
  EXPECT_EQ(CachingAllocator::size_class(1025), 1280u);
  for (size_t b : {300ul, 5000ul, 123457ul, 9999999ul}) {
    const size_t c = CachingAllocator::size_class(b);
    EXPECT_GE(c, b);
    EXPECT_LE(c, b + b / 4 + 1) << b;
  }
}

TEST(Allocator, FreedBlocksAreReusedBySizeClass) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1 << 20, &calls));
  void* p = a.allocate(1000);
  a.deallocate(p);
  void* q = a.allocate(1010);  // same class (1024)
  EXPECT_EQ(p, q);
  EXPECT_EQ(calls, 1);
  void* r = a.allocate(5000);  // another class: a new block
  EXPECT_NE(r, q);
  EXPECT_EQ(calls, 2);
  const MemoryStats s = a.stats();
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.cache_hits, 1u);
  a.deallocate(q);
  a.deallocate(r);
}

TEST(Allocator, CountsInUseAndPeak) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1 << 20, &calls));
  void* p = a.allocate(1024);
  void* q = a.allocate(2048);
  EXPECT_EQ(a.stats().in_use, 3072u);
  EXPECT_EQ(a.stats().peak, 3072u);
  a.deallocate(q);
  EXPECT_EQ(a.stats().in_use, 1024u);
  EXPECT_EQ(a.stats().peak, 3072u);
  EXPECT_EQ(a.stats().cached, 2048u);
  a.reset_peak();
  EXPECT_EQ(a.stats().peak, 1024u);
  a.empty_cache();
  EXPECT_EQ(a.stats().cached, 0u);
  a.deallocate(p);
}

TEST(Allocator, OutOfMemoryReleasesTheCacheAndRetries) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(4096, &calls));
  a.deallocate(a.allocate(3000));  // 3072 cached
  void* big = a.allocate(4000);    // needs the cache given back first
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(a.stats().cached, 0u);
  a.deallocate(big);
}

TEST(Allocator, OutOfMemoryErrorSaysWhatWasAskedAndWhatIsInUse) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1 << 20, &calls));
  void* p = a.allocate(512 * 1024);
  try {
    a.allocate(3u << 20);
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    const std::string m = e.message();
    EXPECT_NE(m.find("out of memory on cuda:3"), std::string::npos) << m;
    EXPECT_NE(m.find("asked for 3.0 MiB (3145728 bytes)"), std::string::npos) << m;
    EXPECT_NE(m.find("512.0 KiB already in use"), std::string::npos) << m;
    EXPECT_NE(m.find("the fake device has 0 B free"), std::string::npos) << m;
  }
  a.deallocate(p);
}

TEST(Allocator, LimitCapsTheBytesHeld) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1 << 30, &calls));
  a.set_limit(10000);
  void* p = a.allocate(8000);
  try {
    a.allocate(4000);
    FAIL() << "expected the limit to be enforced";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("kiln's limit is"), std::string::npos) << e.what();
  }
  a.deallocate(p);
  EXPECT_NO_THROW(a.deallocate(a.allocate(8000)));
}

TEST(Allocator, RejectsForeignPointers) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1 << 20, &calls));
  int x = 0;
  EXPECT_THROW(a.deallocate(&x), Error);
  EXPECT_EQ(a.allocate(0), nullptr);
}

// Issue 18: a free that needs host memory (a free list growing, an event recorded) must not throw
// out of a destructor; the block goes back to the backend instead.
TEST(Allocator, FreeingOutOfHostMemoryGivesTheBlockBackInsteadOfThrowing) {
  int calls = 0;
  auto* raw = new FakeMemory(1 << 20, &calls);
  CachingAllocator a{std::unique_ptr<RawMemory>(raw)};
  void* p = a.allocate(1000);
  bool threw = false;
  {
    FailingNew no_memory;
    try {
      a.deallocate(p);
    } catch (...) {
      threw = true;
    }
  }
  EXPECT_FALSE(threw);
  EXPECT_EQ(a.stats().in_use, 0u);
  EXPECT_EQ(a.stats().cached, 0u);  // given back, not cached
  EXPECT_NE(a.allocate(1000), nullptr);  // the allocator still works
}

TEST(Allocator, FreeingABlockUsedOnAnotherStreamOutOfHostMemoryDoesNotThrow) {
  int calls = 0;
  auto* raw = new FakeMemory(1 << 20, &calls);
  CachingAllocator a{std::unique_ptr<RawMemory>(raw)};
  const Stream s1 = fake_stream(0x100), s2 = fake_stream(0x200);
  void* p = a.allocate(1000, s1);
  a.record_stream(p, s2);
  bool threw = false;
  {
    FailingNew no_memory;  // recording the event and the pending entry both need memory
    try {
      a.deallocate(p);
    } catch (...) {
      threw = true;
    }
  }
  EXPECT_FALSE(threw);
  EXPECT_EQ(a.stats().in_use, 0u);
  EXPECT_EQ(a.stats().pending, 0u);
  EXPECT_EQ(a.stats().cached, 0u);
}

TEST(Allocator, OutOfMemoryIsItsOwnErrorType) {
  int calls = 0;
  CachingAllocator a(std::make_unique<FakeMemory>(1000, &calls));
  EXPECT_THROW(a.allocate(5000), OutOfMemory);
}

// ---- stream order ----------------------------------------------------------------------------------

struct StreamOrder : testing::Test {
  int calls = 0;
  FakeMemory* raw = new FakeMemory(1 << 20, &calls);
  CachingAllocator a{std::unique_ptr<RawMemory>(raw)};
  Stream s1 = fake_stream(0x100), s2 = fake_stream(0x200);
};

TEST_F(StreamOrder, SameStreamReuseIsImmediate) {
  void* p = a.allocate(1000, s1);
  a.deallocate(p);  // kernels on s1 may still use it: the next user on s1 queues behind them
  EXPECT_EQ(a.allocate(1000, s1), p);
  EXPECT_EQ(raw->recorded(), 0);  // no event needed
  EXPECT_EQ(a.stats().cache_hits, 1u);
  a.deallocate(p);
}

TEST_F(StreamOrder, BlocksAreNotHandedToAnotherStream) {
  void* p = a.allocate(1000, s1);
  a.deallocate(p);
  void* q = a.allocate(1000, s2);  // s1's kernels may still use p: s2 gets its own block
  EXPECT_NE(q, p);
  EXPECT_EQ(calls, 2);
  a.deallocate(q);
}

TEST_F(StreamOrder, DefaultStreamKeepsExistingCallersWorking) {
  void* p = a.allocate(1000);
  a.deallocate(p);
  EXPECT_EQ(a.allocate(1000, Stream::default_for(Device::cuda(3))), p);
  a.deallocate(p);
  EXPECT_THROW(a.allocate(10, Stream::default_for(Device::cpu())), Error);  // wrong device
}

TEST_F(StreamOrder, RecordStreamMakesTheFreeWaitForTheOtherStream) {
  void* p = a.allocate(1000, s1);
  a.record_stream(p, s2);
  a.record_stream(p, s2);  // once is enough
  a.record_stream(p, s1);  // its own stream: nothing to record
  a.deallocate(p);
  EXPECT_EQ(raw->recorded(), 1);  // on s2, at the free
  EXPECT_EQ(a.stats().pending, 1024u);
  EXPECT_EQ(a.stats().cached, 0u);
  void* q = a.allocate(1000, s1);  // s2 may still read p: not reused, even on its own stream
  EXPECT_NE(q, p);
  raw->finish(s2);
  void* r = a.allocate(1000, s1);  // the event has completed: p is back in s1's list
  EXPECT_EQ(r, p);
  EXPECT_EQ(a.stats().pending, 0u);
  EXPECT_EQ(raw->released, 1);
  EXPECT_EQ(raw->waits, 0);  // polled, never waited for
  a.deallocate(q);
  a.deallocate(r);
}

TEST_F(StreamOrder, AFreedBlockWaitsForEveryStreamThatUsedIt) {
  Stream s3 = fake_stream(0x300);
  void* p = a.allocate(1000, s1);
  a.record_stream(p, s2);
  a.record_stream(p, s3);
  a.deallocate(p);
  EXPECT_EQ(raw->recorded(), 2);
  raw->finish(s2);
  void* q = a.allocate(1000, s1);
  EXPECT_NE(q, p);  // s3 not done yet
  raw->finish(s3);
  void* r = a.allocate(1000, s1);
  EXPECT_EQ(r, p);
  a.deallocate(q);
  a.deallocate(r);
}

TEST_F(StreamOrder, OutOfMemoryWaitsForPendingBlocksAndFreesThem) {
  int small_calls = 0;
  auto* small = new FakeMemory(4096, &small_calls);
  CachingAllocator b{std::unique_ptr<RawMemory>(small)};
  void* p = b.allocate(3000, s1);
  b.record_stream(p, s2);
  b.deallocate(p);  // 3072 bytes pending on s2's event
  EXPECT_EQ(b.stats().pending, 3072u);
  void* big = b.allocate(2000, s1);  // does not fit beside p: wait for s2, release p, retry
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(small->waits, 1);
  EXPECT_EQ(b.stats().pending, 0u);
  EXPECT_EQ(b.stats().cached, 0u);
  b.deallocate(big);
}

TEST_F(StreamOrder, PendingBytesCountAgainstTheLimit) {
  a.set_limit(4096);
  void* p = a.allocate(3000, s1);
  a.record_stream(p, s2);
  a.deallocate(p);
  void* q = a.allocate(2000, s2);  // over the limit with p pending: p is waited for and released
  EXPECT_EQ(raw->waits, 1);
  EXPECT_EQ(a.stats().in_use + a.stats().cached + a.stats().pending, 2048u);
  a.deallocate(q);
}

TEST_F(StreamOrder, RecordStreamNeedsALiveBlock) {
  int x = 0;
  EXPECT_THROW(a.record_stream(&x, s2), Error);
  EXPECT_NO_THROW(a.record_stream(nullptr, s2));
}

TEST(Allocator, HostStreamsAreTagsAndNeedNoEvents) {
  CachingAllocator& cpu = allocator_for(Device::cpu());
  const Stream s = Stream::create(Device::cpu());
  void* p = cpu.allocate(5000, s);
  cpu.record_stream(p, Stream::default_for(Device::cpu()));
  cpu.deallocate(p);
  EXPECT_EQ(cpu.stats().pending, 0u);  // host work is complete when it returns
}

TEST(Allocator, HostAllocatorIsAlignedFor64Bytes) {
  CachingAllocator& cpu = allocator_for(Device::cpu());
  void* p = cpu.allocate(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  cpu.deallocate(p);
}

}  // namespace
}  // namespace kiln
