#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "core/allocator.h"
#include "core/error.h"

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

 private:
  uint64_t capacity_, used_ = 0;
  int* calls_;
  std::map<void*, size_t> sizes_;
};

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

TEST(Allocator, HostAllocatorIsAlignedFor64Bytes) {
  CachingAllocator& cpu = allocator_for(Device::cpu());
  void* p = cpu.allocate(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  cpu.deallocate(p);
}

}  // namespace
}  // namespace kiln
