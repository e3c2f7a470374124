// Kernels that break the GPU's rules, and the emulator refusing them (issue 12, DESIGN.md principle
// 8): each error names the kernel and the rule. Emulator only: on a GPU most of these are undefined
// behaviour rather than a clean error.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/launch.cuh"
#include "tests/emu/error_text.h"

#ifdef KILN_EMULATE

namespace {

template <typename T>
struct Buffer {
  explicit Buffer(size_t n) : n(n) { EXPECT_EQ(cudaSuccess, cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T))); }
  ~Buffer() { cudaFree(p); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaSuccess, cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  T* p = nullptr;
  size_t n;
};

using kiln::testing::launch_error;

// The racecheck build (-DKILN_SANITIZE=thread) reports the races the order tests rely on.
#if defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_RACECHECK() \
  GTEST_SKIP() << "racy on purpose: the racecheck build reports it (tests/emu/racecheck_test.cu)"
#else
#define SKIP_UNDER_RACECHECK() (void)0
#endif


// The emulator's order settings, restored at the end of a test.
struct OrderScope {
  explicit OrderScope(kiln::emu::OrderConfig o) : saved(kiln::emu::order()) { kiln::emu::set_order(o); }
  ~OrderScope() { kiln::emu::set_order(saved); }
  kiln::emu::OrderConfig saved;
};

constexpr int kBound = 128;

__global__ void __launch_bounds__(kBound) bounded_kernel(int* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

template <int Threads>
__global__ void __launch_bounds__(Threads, 2) bounded_template(int* out) {
  out[threadIdx.x] = Threads;
}

__global__ void unwritten_static_shared(float* out) {
  __shared__ float flag[2];
  if (threadIdx.x == 0 && blockIdx.x == 0) flag[0] = 1.0f;  // only block 0 writes
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = flag[0];
}

#if defined(__SANITIZE_ADDRESS__)
__global__ void static_shared_overrun(float* out) {
  __shared__ float tile[32];
  // Thread 32 writes one float past the end, through a pointer: UBSan's bounds check (fatal in
  // this build) would stop an indexed write to the array first, and this test is about ASan
  // seeing the per-block shared memory.
  float* const p = tile;
  p[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = tile[threadIdx.x % 32];
}
#endif

__global__ void static_and_dynamic_shared(float* out) {
  __shared__ float fixed[4 * 1024];  // 16 KiB
  KILN_DYNAMIC_SHARED(float, tile);
  fixed[threadIdx.x] = 1.0f;
  tile[threadIdx.x] = 2.0f;
  __syncthreads();
  out[threadIdx.x] = fixed[threadIdx.x] + tile[threadIdx.x];
}

__global__ void big_tile_kernel(float* out) {
  KILN_DYNAMIC_SHARED(float, tile);
  tile[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

__global__ void out_of_mask_shuffle(float* out) {
  const int lane = threadIdx.x % 32;
  // Lanes 0-7 take part, but lane 7 reads lane 8, which is not in the mask.
  if (lane < 8) out[lane] = __shfl_down_sync(0x000000ffu, static_cast<float>(lane), 1, 16);
}

__global__ void out_of_mask_vote(int* out) {
  // Lane 1 votes with a mask that does not name it.
  out[threadIdx.x] = __ballot_sync(threadIdx.x == 1 ? 0x1u : 0x3u, 1);
}

__global__ void unwritten_dynamic_shared(float* out) {
  KILN_DYNAMIC_SHARED(float, buf);
  if (threadIdx.x == 0 && blockIdx.x == 0) buf[0] = 1.0f;  // only block 0 writes
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = buf[0];
}

// Racy on purpose: the first thread to run after the barrier claims `first`, so the result depends
// on the order in which the threads of the block run (on a GPU it is any thread).
__global__ void order_dependent(int* out) {
  __shared__ int first;
  if (threadIdx.x == 0) first = -1;
  __syncthreads();
  if (first < 0) first = static_cast<int>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = first;
}

}  // namespace

TEST(EmulatorRules, LaunchBoundsAreHonoured) {
  Buffer<int> out(2 * 256);
  kiln::launch(bounded_kernel, 2, kBound, 0, nullptr, out.p);  // at the bound: fine
  cudaMemset(out.p, 0, out.n * sizeof(int));
  const std::string e = launch_error([&] { kiln::launch(bounded_kernel, 2, 256, 0, nullptr, out.p); });
  EXPECT_HAS(e, "cannot launch kernel");
  EXPECT_HAS(e, "bounded_kernel");
  EXPECT_HAS(e, "256 threads per block exceed the kernel's __launch_bounds__(128)");
  EXPECT_HAS(e, "cudaErrorLaunchOutOfResources");
  EXPECT_HAS(e, "emu_rules_test.cu");  // the launching line
  EXPECT_EQ(out.download(), std::vector<int>(out.n, 0)) << "the refused kernel ran";
  // Template kernels, bounds from a template parameter.
  kiln::launch(bounded_template<64>, 1, 64, 0, nullptr, out.p);
  const std::string t = launch_error([&] { kiln::launch(bounded_template<64>, 1, 96, 0, nullptr, out.p); });
  EXPECT_HAS(t, "bounded_template<64>");
  EXPECT_HAS(t, "96 threads per block exceed the kernel's __launch_bounds__(64)");
}

TEST(EmulatorRules, DynamicSharedAbove48KiBNeedsTheOptIn) {
  Buffer<float> out(256);
  const size_t bytes = 64 * 1024;
  const std::string e = launch_error([&] { kiln::launch(big_tile_kernel, 1, 256, bytes, nullptr, out.p); });
  EXPECT_HAS(e, "big_tile_kernel");
  EXPECT_HAS(e, "cudaFuncAttributeMaxDynamicSharedMemorySize");
  EXPECT_HAS(e, "cudaErrorInvalidValue");
  ASSERT_EQ(cudaSuccess, cudaFuncSetAttribute(reinterpret_cast<const void*>(&big_tile_kernel),
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(bytes)));
  kiln::launch(big_tile_kernel, 1, 256, bytes, nullptr, out.p);  // accepted with the opt-in
  EXPECT_EQ(out.download()[0], 255.0f);
  // ... but not beyond what was set, nor beyond the architecture's limit.
  const std::string more = launch_error([&] { kiln::launch(big_tile_kernel, 1, 256, bytes + 4, nullptr, out.p); });
  EXPECT_HAS(more, "big_tile_kernel");
  EXPECT_HAS(more, "exceeds the 65536 bytes set by cudaFuncSetAttribute");
  const auto& dev = kiln::emu::device_config();
  EXPECT_EQ(cudaErrorInvalidValue,
            cudaFuncSetAttribute(reinterpret_cast<const void*>(&big_tile_kernel),
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(dev.shared_optin + 1)));
  cudaGetLastError();
  const std::string over = launch_error([&] { kiln::launch(big_tile_kernel, 1, 256, dev.shared_optin + 1, nullptr, out.p); });
  EXPECT_HAS(over, "big_tile_kernel");
  EXPECT_HAS(over, "sharedMemPerBlockOptin");
  ASSERT_EQ(cudaSuccess, cudaFuncSetAttribute(reinterpret_cast<const void*>(&big_tile_kernel),
                                              cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024));
}

TEST(EmulatorRules, StaticAndDynamicSharedMemoryCountTogether) {
  Buffer<float> out(32);
  kiln::launch(static_and_dynamic_shared, 1, 32, 32 * 1024, nullptr, out.p);  // 16 + 32 KiB: fine
  EXPECT_EQ(out.download()[0], 3.0f);
  const std::string e = launch_error(
      [&] { kiln::launch(static_and_dynamic_shared, 1, 32, 40 * 1024, nullptr, out.p); });
  EXPECT_HAS(e, "cannot launch kernel");
  EXPECT_HAS(e, "static_and_dynamic_shared");
  EXPECT_HAS(e, "16384 bytes of static shared memory and 40960 bytes of dynamic shared memory "
                "exceed 48 KiB");
}

TEST(EmulatorRules, OutOfMaskShuffleIsAnError) {
  Buffer<float> out(32);
  const std::string e = launch_error([&] { kiln::launch(out_of_mask_shuffle, 1, 32, 0, nullptr, out.p); });
  EXPECT_HAS(e, "out_of_mask_shuffle");
  EXPECT_HAS(e, "lane 7 shuffles from lane 8, which is not in the mask 0x000000ff");
}

TEST(EmulatorRules, VoteFromALaneOutsideItsMaskIsAnError) {
  Buffer<int> out(32);
  const std::string e = launch_error([&] { kiln::launch(out_of_mask_vote, 1, 32, 0, nullptr, out.p); });
  EXPECT_HAS(e, "out_of_mask_vote");
  EXPECT_HAS(e, "which does not name the calling lane");
}

TEST(EmulatorRules, UnwrittenDynamicSharedMemoryReadsAsNaN) {
  Buffer<float> out(3);
  kiln::launch(unwritten_dynamic_shared, 3, 32, sizeof(float), nullptr, out.p);
  const auto h = out.download();
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_TRUE(std::isnan(h[1])) << h[1];  // fresh, poisoned memory in every block
  EXPECT_TRUE(std::isnan(h[2])) << h[2];
}

TEST(EmulatorRules, UnwrittenStaticSharedMemoryReadsAsNaN) {
  Buffer<float> out(3);
  kiln::launch(unwritten_static_shared, 3, 32, 0, nullptr, out.p);
  const auto h = out.download();
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_TRUE(std::isnan(h[1])) << h[1];  // block 1 does not see what block 0 wrote
  EXPECT_TRUE(std::isnan(h[2])) << h[2];
}

#if defined(__SANITIZE_ADDRESS__)
TEST(EmulatorRules, StaticSharedOverrunIsCaughtUnderASan) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Buffer<float> out(33);
        kiln::launch(static_shared_overrun, 1, 33, 0, nullptr, out.p);
      },
      "heap-buffer-overflow(.|\n)*kiln emulator: fault in kernel .*static_shared_overrun.* block "
      "\\(0,0,0\\) thread \\(32,0,0\\)");
}
#endif

TEST(EmulatorRules, ThreadOrderIsASetting) {
  SKIP_UNDER_RACECHECK();
  Buffer<int> out(64);
  std::vector<int> asc, desc, rnd;
  {
    OrderScope o({kiln::emu::Order::Ascending, 0});
    kiln::launch(order_dependent, 1, 64, 0, nullptr, out.p);
    asc = out.download();
  }
  {
    OrderScope o({kiln::emu::Order::Descending, 0});
    kiln::launch(order_dependent, 1, 64, 0, nullptr, out.p);
    desc = out.download();
  }
  {
    OrderScope o(kiln::emu::parse_order("random:7"));
    kiln::launch(order_dependent, 1, 64, 0, nullptr, out.p);
    rnd = out.download();
  }
  // After a barrier the thread that arrived last goes on first: thread 63 in ascending order,
  // thread 0 in descending order.
  EXPECT_EQ(asc[0], 63);
  EXPECT_EQ(desc[0], 0);
  EXPECT_NE(asc, desc) << "the racy kernel gave the same result in both orders";
  EXPECT_NE(rnd[0], 0);
  EXPECT_NE(rnd[0], 63);
  EXPECT_EQ(rnd, std::vector<int>(64, rnd[0]));
  EXPECT_THROW(kiln::emu::parse_order("sideways"), kiln::Error);
  EXPECT_EQ(kiln::emu::parse_order("random:42").seed, 42u);
}

// Blocks run in the chosen order too: with one worker, the last block to run wins the race.
__global__ void last_block_wins(int* out) {
  if (threadIdx.x == 0) *out = static_cast<int>(blockIdx.x);
}

TEST(EmulatorRules, BlockOrderIsASetting) {
  SKIP_UNDER_RACECHECK();
  if (kiln::emu::worker_count() != 1) GTEST_SKIP() << "needs KILN_EMU_WORKERS=1";
  Buffer<int> out(1);
  {
    OrderScope o({kiln::emu::Order::Ascending, 0});
    kiln::launch(last_block_wins, 8, 32, 0, nullptr, out.p);
    EXPECT_EQ(out.download()[0], 7);
  }
  {
    OrderScope o({kiln::emu::Order::Descending, 0});
    kiln::launch(last_block_wins, 8, 32, 0, nullptr, out.p);
    EXPECT_EQ(out.download()[0], 0);
  }
}

#else
TEST(EmulatorRules, EmulatorOnly) { GTEST_SKIP() << "tests of the CUDA emulator"; }
#endif  // KILN_EMULATE
