// Streams, events and stream-ordered memory. On a GPU the work of two streams overlaps and a
// missing synchronisation corrupts results now and then; the emulator's deferred mode
// (kiln::emu::StreamMode::Deferred, KILN_EMU_STREAMS=deferred) runs a stream's work only when
// something needs it, so the same mistake gives a wrong result every time. The tests that need
// deferred mode to show anything are emulator-only; the others also run on a GPU.
#undef NDEBUG  // the error test needs assert() in kernels, also in Release builds
#include <cassert>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "core/workspace.h"
#include "kernels/launch.cuh"
#include "tests/common/device.h"

namespace {

constexpr int kN = 1000;
constexpr size_t kBytes = kN * sizeof(float);
const kiln::Device kDev = kiln::Device::cuda(0);

__global__ void fill(float* x, int n, float v) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = v;
}

__global__ void add_one(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + 1.0f;
}

void fill_on(float* x, float v, const kiln::Stream& s) { kiln::launch(fill, (kN + 127) / 128, 128, 0, s, x, kN, v); }
void add_one_on(const float* x, float* y, const kiln::Stream& s) {
  kiln::launch(add_one, (kN + 127) / 128, 128, 0, s, x, y, kN);
}

// A device buffer outside kiln's allocator, zeroed.
struct Buffer {
  Buffer() {
    EXPECT_EQ(cudaSuccess, cudaMalloc(reinterpret_cast<void**>(&p), kBytes));
    EXPECT_EQ(cudaSuccess, cudaMemset(p, 0, kBytes));
    EXPECT_EQ(cudaSuccess, cudaDeviceSynchronize());
  }
  ~Buffer() { cudaFree(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* p = nullptr;
};

// Element i of device memory, read by a blocking cudaMemcpy: it waits for the legacy default
// stream (and blocking streams), not for cudaStreamNonBlocking streams such as kiln's.
float peek(const float* x, int i = kN - 1) {
  float v = -1.0f;
  EXPECT_EQ(cudaSuccess, cudaMemcpy(&v, x + i, sizeof v, cudaMemcpyDeviceToHost));
  return v;
}

// ---- on any device: the right synchronisation gives the right result --------------------------------

TEST(Streams, WaitEventOrdersTwoStreams) {
  KILN_REQUIRE_DEVICE();
  Buffer x, y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  kiln::Event written(kDev);
  fill_on(x.p, 5.0f, a);
  written.record(a);
  b.wait(written);
  add_one_on(x.p, y.p, b);
  b.synchronize();
  EXPECT_EQ(peek(y.p), 6.0f);
}

TEST(Streams, RecordStreamKeepsAFreedBlockFromTheOtherStreamsReader) {
  KILN_REQUIRE_DEVICE();
  Buffer y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  {
    kiln::Tensor t = kiln::Tensor::empty({kN}, a);
    fill_on(t.data<float>(), 1.0f, a);
    a.synchronize();
    add_one_on(t.data<float>(), y.p, b);  // may still be queued on b
    t.record_stream(b);
  }  // freed: a's next block waits for b's read
  kiln::Tensor u = kiln::Tensor::empty({kN}, a);
  fill_on(u.data<float>(), 100.0f, a);
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(peek(y.p), 2.0f);
}

#ifdef KILN_EMULATE

// Deferred streams for one test; the previous mode (KILN_EMU_STREAMS) afterwards.
class Deferred : public testing::Test {
 protected:
  void SetUp() override {
    saved_ = kiln::emu::stream_mode();
    kiln::emu::set_stream_mode(kiln::emu::StreamMode::Deferred);
  }
  void TearDown() override {
    try {
      kiln::emu::set_stream_mode(saved_);
    } catch (const kiln::Error& e) {
      ADD_FAILURE() << "queued work failed: " << e.what();
    }
  }
  kiln::emu::StreamMode saved_{};
};

// ---- (a) a missing cudaStreamWaitEvent ------------------------------------------------------------

TEST_F(Deferred, MissingWaitEventReadsStaleData) {
  Buffer x, y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  fill_on(x.p, 5.0f, a);
  add_one_on(x.p, y.p, b);  // forgot: b.wait(event recorded on a)
  b.synchronize();
  EXPECT_EQ(peek(y.p), 1.0f) << "b read x before a wrote it";
  a.synchronize();

  kiln::Event written(kDev);
  fill_on(x.p, 7.0f, a);
  written.record(a);
  b.wait(written);
  add_one_on(x.p, y.p, b);
  b.synchronize();  // runs a up to the event first
  EXPECT_EQ(peek(y.p), 8.0f);
}

// ---- (b) a block freed while another stream's kernel still reads it -------------------------------

TEST_F(Deferred, FreedBlockReusedByAnotherStreamCorruptsItsReaderWithoutRecordStream) {
  Buffer y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  kiln::CachingAllocator& alloc = kiln::allocator_for(kDev);
  auto run = [&](bool record) {
    auto* x = static_cast<float*>(alloc.allocate(kBytes, a));
    fill_on(x, 1.0f, a);
    a.synchronize();
    add_one_on(x, y.p, b);  // queued on b
    if (record) alloc.record_stream(x, b);
    alloc.deallocate(x);
    auto* reused = static_cast<float*>(alloc.allocate(kBytes, a));
    if (!record) {
      EXPECT_EQ(reused, x) << "same stream, same size: the block comes straight back";
    }
    fill_on(reused, 100.0f, a);  // a overwrites the block b has yet to read
    a.synchronize();
    b.synchronize();
    alloc.deallocate(reused);
    return peek(y.p);
  };
  // What the allocator did for every stream before it was stream-ordered:
  EXPECT_EQ(run(false), 101.0f) << "b read a's new data";
  // Told that b uses the block, the free records an event on b, and the block comes back only
  // once it has completed (the emulator's cudaEventQuery runs b's queued work).
  EXPECT_EQ(run(true), 2.0f);
}

TEST_F(Deferred, BlocksFreedOnOneStreamAreNotHandedToAnother) {
  Buffer y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  void* freed = nullptr;
  {
    kiln::Tensor t = kiln::Tensor::zeros({kN}, b);
    add_one_on(t.data<float>(), y.p, b);  // queued
    freed = t.raw_data();
  }
  kiln::Tensor u = kiln::Tensor::empty({kN}, a);
  EXPECT_NE(u.raw_data(), freed);
  fill_on(u.data<float>(), 100.0f, a);
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(peek(y.p), 1.0f);
}

// ---- workspace leases ----------------------------------------------------------------------------

TEST_F(Deferred, WorkspaceBorrowedByAnotherStreamWaitsForTheLastLease) {
  Buffer y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  kiln::Workspace ws(kDev);
  {
    auto lease = ws.borrow(kBytes, a);
    fill_on(lease.as<float>(), 7.0f, a);  // queued; the lease ends now
  }
  void* buffer = nullptr;
  {
    auto lease = ws.borrow(kBytes, a);  // same stream: at once, same buffer
    buffer = lease.data();
  }
  {
    auto lease = ws.borrow(kBytes, b);
    EXPECT_EQ(lease.data(), buffer);
    add_one_on(lease.as<float>(), y.p, b);
  }
  b.synchronize();  // runs a's fill first: the hand-over made b wait for it
  EXPECT_EQ(peek(y.p), 8.0f);
}

TEST_F(Deferred, WorkspaceGrowthFreesTheOldBufferAfterEveryStreamThatUsedIt) {
  Buffer y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  kiln::Workspace ws(kDev);
  {
    auto lease = ws.borrow(kBytes, a);
    fill_on(lease.as<float>(), 7.0f, a);
  }
  {
    auto lease = ws.borrow(kBytes, b);
    add_one_on(lease.as<float>(), y.p, b);  // queued on b
  }
  { auto lease = ws.borrow(4 * kBytes, a); }  // grows: the old buffer goes back to the allocator
  auto* reused = static_cast<float*>(kiln::allocator_for(kDev).allocate(kBytes, a));
  fill_on(reused, 100.0f, a);
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(peek(y.p), 8.0f) << "the old buffer was reused before b read it";
  kiln::allocator_for(kDev).deallocate(reused);
}

// ---- (c) what forces queued work, and what does not -----------------------------------------------

TEST_F(Deferred, LaunchesAreQueuedUntilSomethingWaits) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  fill_on(x.p, 3.0f, a);
  EXPECT_EQ(x.p[0], 0.0f) << "ran at once";  // the emulator's device memory is host memory
  a.synchronize();
  EXPECT_EQ(x.p[0], 3.0f);
}

TEST_F(Deferred, StreamSynchronizeRunsOnlyThatStream) {
  Buffer x, y;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  fill_on(x.p, 1.0f, a);
  fill_on(y.p, 2.0f, b);
  b.synchronize();
  EXPECT_EQ(peek(x.p), 0.0f);
  EXPECT_EQ(peek(y.p), 2.0f);
  ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
  EXPECT_EQ(peek(x.p), 1.0f);
}

TEST_F(Deferred, EventQueryAndSynchronizeRunTheWorkBeforeTheEventOnly) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  kiln::Event first(kDev), second(kDev);
  fill_on(x.p, 1.0f, a);
  first.record(a);
  fill_on(x.p, 2.0f, a);
  second.record(a);
  EXPECT_TRUE(first.query());  // the emulator has no background progress: a query runs the work
  EXPECT_EQ(peek(x.p), 1.0f);
  second.synchronize();
  EXPECT_EQ(peek(x.p), 2.0f);
}

TEST_F(Deferred, WaitEventOrdersOnlyTheWorkQueuedAfterIt) {
  Buffer x, y, z;
  const kiln::Stream a = kiln::Stream::create(kDev), b = kiln::Stream::create(kDev);
  kiln::Event e(kDev);
  b.wait(e);                // never recorded: nothing to wait for
  add_one_on(x.p, z.p, b);  // before the wait: may run before a's work
  fill_on(x.p, 4.0f, a);
  e.record(a);
  b.wait(e);
  add_one_on(x.p, y.p, b);
  b.synchronize();
  EXPECT_EQ(peek(z.p), 1.0f);
  EXPECT_EQ(peek(y.p), 5.0f);
}

TEST_F(Deferred, LegacyDefaultStreamSynchronisesWithBlockingStreamsOnly) {
  Buffer x, y;
  cudaStream_t blocking = nullptr, non_blocking = nullptr;
  ASSERT_EQ(cudaSuccess, cudaStreamCreate(&blocking));
  ASSERT_EQ(cudaSuccess, cudaStreamCreateWithFlags(&non_blocking, cudaStreamNonBlocking));
  const kiln::Stream legacy = kiln::Stream::default_for(kDev);

  kiln::launch(fill, (kN + 127) / 128, 128, 0, blocking, x.p, kN, 1.0f);
  add_one_on(x.p, y.p, legacy);  // waits for the blocking stream's fill
  legacy.synchronize();
  EXPECT_EQ(peek(y.p), 2.0f);

  kiln::launch(fill, (kN + 127) / 128, 128, 0, non_blocking, x.p, kN, 10.0f);
  add_one_on(x.p, y.p, legacy);  // does not wait for the non-blocking stream
  legacy.synchronize();
  EXPECT_EQ(peek(y.p), 2.0f);
  ASSERT_EQ(cudaSuccess, cudaStreamSynchronize(non_blocking));

  fill_on(x.p, 20.0f, legacy);
  kiln::launch(add_one, (kN + 127) / 128, 128, 0, blocking, x.p, y.p, kN);  // waits for the legacy fill
  ASSERT_EQ(cudaSuccess, cudaStreamSynchronize(blocking));
  EXPECT_EQ(peek(y.p), 21.0f);
  EXPECT_EQ(cudaSuccess, cudaStreamDestroy(blocking));
  EXPECT_EQ(cudaSuccess, cudaStreamDestroy(non_blocking));
}

TEST_F(Deferred, BlockingMemcpyAndMemsetFollowTheLegacyStream) {
  Buffer x;
  ASSERT_EQ(cudaSuccess, cudaMemset(x.p, 0xff, kBytes));  // queued on the legacy stream
  EXPECT_EQ(x.p[0], 0.0f);
  unsigned bits = 0;
  ASSERT_EQ(cudaSuccess, cudaMemcpy(&bits, x.p, sizeof bits, cudaMemcpyDeviceToHost));
  EXPECT_EQ(bits, 0xffffffffu);
}

TEST_F(Deferred, AsyncCopiesFromAndToPageableMemoryAreStagedOrWaitedFor) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  std::vector<float> host(kN, 3.0f);
  ASSERT_EQ(cudaSuccess, cudaMemcpyAsync(x.p, host.data(), kBytes, cudaMemcpyHostToDevice,
                                         kiln::native_stream(a)));
  host.assign(kN, -1.0f);  // pageable memory may be reused once the call returns
  add_one_on(x.p, x.p, a);
  std::vector<float> back(kN, 0.0f);
  ASSERT_EQ(cudaSuccess, cudaMemcpyAsync(back.data(), x.p, kBytes, cudaMemcpyDeviceToHost,
                                         kiln::native_stream(a)));
  EXPECT_EQ(back[kN - 1], 4.0f);  // to pageable memory: finished when the call returns
}

TEST_F(Deferred, CopiesToPinnedMemoryStayQueued) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  float* pinned = nullptr;
  ASSERT_EQ(cudaSuccess, cudaMallocHost(reinterpret_cast<void**>(&pinned), kBytes));
  pinned[0] = -1.0f;
  fill_on(x.p, 9.0f, a);
  ASSERT_EQ(cudaSuccess, cudaMemcpyAsync(pinned, x.p, kBytes, cudaMemcpyDeviceToHost, kiln::native_stream(a)));
  EXPECT_EQ(pinned[0], -1.0f) << "read before the stream was synchronised";
  a.synchronize();
  EXPECT_EQ(pinned[0], 9.0f);
  cudaFreeHost(pinned);
}

struct Params {
  float value;
  int n;
};
__global__ void fill_params(float* x, Params p) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < p.n) x[i] = p.value;
}

TEST_F(Deferred, QueuedLaunchOwnsItsArguments) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  {
    Params p{6.0f, kN};
    kiln::launch(fill_params, (kN + 127) / 128, 128, 0, a, x.p, p);
    p.value = -1.0f;  // the caller's copy changes, then goes
  }
  a.synchronize();
  EXPECT_EQ(peek(x.p), 6.0f);
}

__global__ void positive_only(const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) assert(x[i] >= 0.0f);
}

TEST_F(Deferred, KernelErrorsSurfaceAtTheSynchronisingCallNamingTheLaunch) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  fill_on(x.p, -1.0f, a);
  const int line = __LINE__ + 1;
  kiln::launch(positive_only, (kN + 127) / 128, 128, 0, a, static_cast<const float*>(x.p), kN);  // no throw yet
  fill_on(x.p, 5.0f, a);  // discarded with the failure, as after a fault on a GPU
  try {
    a.synchronize();
    FAIL() << "the failed assert was not reported";
  } catch (const kiln::Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("assertion `x[i] >= 0.0f` failed"), std::string::npos) << w;
    EXPECT_NE(w.find("positive_only"), std::string::npos) << w;
    EXPECT_NE(w.find("streams_test.cu:" + std::to_string(line)), std::string::npos) << w;
  }
  EXPECT_EQ(peek(x.p), -1.0f);
  fill_on(x.p, 2.0f, a);  // later work runs normally
  a.synchronize();
  EXPECT_EQ(peek(x.p), 2.0f);
}

TEST_F(Deferred, BadLaunchConfigurationsStillFailAtTheLaunch) {
  const kiln::Stream a = kiln::Stream::create(kDev);
  EXPECT_THROW(kiln::launch(fill, 1, 2048, 0, a, static_cast<float*>(nullptr), 0, 0.0f), kiln::Error);
}

TEST_F(Deferred, ElapsedTimeNeedsCompletedEvents) {
  Buffer x;
  const kiln::Stream a = kiln::Stream::create(kDev);
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaSuccess, cudaEventCreate(&start));
  ASSERT_EQ(cudaSuccess, cudaEventCreate(&stop));
  ASSERT_EQ(cudaSuccess, cudaEventRecord(start, kiln::native_stream(a)));
  fill_on(x.p, 1.0f, a);
  ASSERT_EQ(cudaSuccess, cudaEventRecord(stop, kiln::native_stream(a)));
  float ms = -1.0f;
  EXPECT_EQ(cudaErrorNotReady, cudaEventElapsedTime(&ms, start, stop));
  cudaGetLastError();
  ASSERT_EQ(cudaSuccess, cudaEventSynchronize(stop));
  ASSERT_EQ(cudaSuccess, cudaEventElapsedTime(&ms, start, stop));
  EXPECT_GE(ms, 0.0f);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

TEST_F(Deferred, DestroyingAStreamRunsItsWork) {
  Buffer x;
  {
    const kiln::Stream a = kiln::Stream::create(kDev);
    fill_on(x.p, 8.0f, a);
  }
  EXPECT_EQ(peek(x.p), 8.0f);
}

TEST(StreamMode, TheEnvironmentChoosesTheDefault) {
  const char* e = std::getenv("KILN_EMU_STREAMS");
  const bool deferred = e && std::string(e) == "deferred";
  EXPECT_EQ(kiln::emu::stream_mode(),
            deferred ? kiln::emu::StreamMode::Deferred : kiln::emu::StreamMode::Synchronous);
}

TEST(StreamMode, SwitchingBackToSynchronousRunsQueuedWork) {
  const auto saved = kiln::emu::stream_mode();
  Buffer x;
  kiln::emu::set_stream_mode(kiln::emu::StreamMode::Deferred);
  const kiln::Stream a = kiln::Stream::create(kDev);
  fill_on(x.p, 4.0f, a);
  kiln::emu::set_stream_mode(kiln::emu::StreamMode::Synchronous);
  EXPECT_EQ(x.p[0], 4.0f);
  fill_on(x.p, 5.0f, a);
  EXPECT_EQ(x.p[0], 5.0f) << "synchronous mode runs a launch before it returns";
  kiln::emu::set_stream_mode(saved);
}

#endif  // KILN_EMULATE

}  // namespace
