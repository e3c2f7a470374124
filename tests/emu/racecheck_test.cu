// The emulator's racecheck (-DKILN_SANITIZE=thread, kernels/emu/README.md "Racecheck"): the classic
// data races of CUDA kernels, each of which ThreadSanitizer must report naming the kernel and the
// source lines of both accesses, and their correct versions, which must run clean.
//
// A race ends the process (halt_on_error), so each racy kernel runs in a child process: the
// DISABLED_ tests of RacyKernels, run by the Racecheck tests, which read the child's report. In a
// build without ThreadSanitizer the Racecheck tests skip; the correct versions (CleanKernels) run in
// every build, on a GPU too.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/launch.cuh"
#include "tests/common/device.h"
#include "tests/common/run_command.h"

namespace {

constexpr int kThreads = 64;
constexpr int kBlocks = 4;

// Pins the line constant `k` (declared above a kernel) to the line it is used on: moving a racy
// statement without its constant fails the build.
#define RACE_LINE(k) static_assert(__LINE__ == (k), #k " does not name this line")

// ---- (i) reading what a neighbour wrote to shared memory, with no __syncthreads in between -----
constexpr int kNeighbourWrite = __LINE__ + 5;
constexpr int kNeighbourRead = __LINE__ + 5;
__global__ void racy_neighbour_read(float* out) {
  __shared__ float tile[kThreads];
  const int t = threadIdx.x;
  tile[t] = static_cast<float>(t); RACE_LINE(kNeighbourWrite);
  out[t] = tile[(t + 1) % kThreads]; RACE_LINE(kNeighbourRead);
}

__global__ void neighbour_read(float* out) {
  __shared__ float tile[kThreads];
  const int t = threadIdx.x;
  tile[t] = static_cast<float>(t);
  __syncthreads();
  out[t] = tile[(t + 1) % kThreads];
}

// ---- (ii) a pre-Volta warp-synchronous reduction: no __syncwarp between the steps ---------------
constexpr int kWarpStep16 = __LINE__ + 10;
constexpr int kWarpStep1 = __LINE__ + 13;
__global__ void racy_warp_reduce(const float* in, float* out) {
  __shared__ float s[kThreads];
  const int t = threadIdx.x;
  s[t] = in[blockIdx.x * kThreads + t];
  __syncthreads();
  if (t < 32) s[t] += s[t + 32];
  __syncthreads();
  if (t < 32) {
    s[t] += s[t + 16]; RACE_LINE(kWarpStep16);
    s[t] += s[t + 8];
    s[t] += s[t + 4];
    s[t] += s[t + 2];
    s[t] += s[t + 1]; RACE_LINE(kWarpStep1);
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// The same with __syncwarp between every read and write of another lane's value (the CUDA
// Programming Guide's fix of the warp-synchronous idiom).
__global__ void warp_reduce(const float* in, float* out) {
  __shared__ float s[kThreads];
  const int t = threadIdx.x;
  s[t] = in[blockIdx.x * kThreads + t];
  __syncthreads();
  if (t < 32) s[t] += s[t + 32];
  __syncthreads();
  if (t < 32) {
    float v = s[t];
    for (int offset = 16; offset > 0; offset /= 2) {
      v += s[t + offset];
      __syncwarp();
      s[t] = v;
      __syncwarp();
    }
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// ---- (iii) write after read: a tile reloaded while a neighbour has yet to read the old one -----
constexpr int kTileWrite = __LINE__ + 7;
constexpr int kTileRead = __LINE__ + 8;
__global__ void racy_tile_reload(const float* in, float* out) {
  __shared__ float tile[kThreads];
  const int t = threadIdx.x;
  float acc = 0.0f;
  for (int round = 0; round < 2; ++round) {
    tile[t] = in[round * kThreads + t]; RACE_LINE(kTileWrite);
    __syncthreads();
    acc += tile[(t + 1) % kThreads]; RACE_LINE(kTileRead);
    // missing: __syncthreads() before the next round overwrites the tile
  }
  out[t] = acc;
}

__global__ void tile_reload(const float* in, float* out) {
  __shared__ float tile[kThreads];
  const int t = threadIdx.x;
  float acc = 0.0f;
  for (int round = 0; round < 2; ++round) {
    tile[t] = in[round * kThreads + t];
    __syncthreads();
    acc += tile[(t + 1) % kThreads];
    __syncthreads();
  }
  out[t] = acc;
}

// ---- (iv) blocks adding into one global word without an atomic ---------------------------------
constexpr int kTotalRead = __LINE__ + 4;
constexpr int kTotalWrite = __LINE__ + 4;
__global__ void racy_global_total(const int* in, int* total) {
  if (threadIdx.x != 0) return;
  const int old = *total; RACE_LINE(kTotalRead);
  *total = old + in[blockIdx.x]; RACE_LINE(kTotalWrite);
}

__global__ void global_total(const int* in, int* total) {
  if (threadIdx.x == 0) atomicAdd(total, in[blockIdx.x]);
}

// ---- (v) a flag published with a relaxed atomic and no __threadfence ---------------------------
// The last block to finish sums what every block wrote (the CUDA sample threadFenceReduction).
// Without the fences the atomic orders nothing: the partial sums may not be visible yet.
constexpr int kPartialWrite = __LINE__ + 4;
constexpr int kPartialRead = __LINE__ + 8;
__global__ void racy_last_block_sum(const float* in, float* partial, unsigned* done, float* out) {
  if (threadIdx.x != 0) return;
  partial[blockIdx.x] = 2.0f * in[blockIdx.x]; RACE_LINE(kPartialWrite);
  const unsigned ticket = atomicInc(done, gridDim.x);
  if (ticket != gridDim.x - 1) return;
  float sum = 0.0f;
  for (unsigned b = 0; b < gridDim.x; ++b) {
    sum += partial[b]; RACE_LINE(kPartialRead);
  }
  *out = sum;
}

__global__ void last_block_sum(const float* in, float* partial, unsigned* done, float* out) {
  if (threadIdx.x != 0) return;
  partial[blockIdx.x] = 2.0f * in[blockIdx.x];
  __threadfence();  // the partial sum before the ticket
  const unsigned ticket = atomicInc(done, gridDim.x);
  if (ticket != gridDim.x - 1) return;
  __threadfence();  // every other block's partial sum after its ticket
  float sum = 0.0f;
  for (unsigned b = 0; b < gridDim.x; ++b) sum += partial[b];
  *out = sum;
}

// ---- helpers ------------------------------------------------------------------------------------

template <typename T>
struct Buffer {
  explicit Buffer(size_t n, T fill = T{}) : n(n) {
    EXPECT_EQ(cudaSuccess, cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    upload(std::vector<T>(n, fill));
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { cudaFree(p); }
  void upload(const std::vector<T>& h) {
    EXPECT_EQ(cudaSuccess, cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaSuccess, cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  T* p = nullptr;
  size_t n;
};

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

// Each racy kernel, run as the correct one is. The RacyKernels tests only run in a child process.
void run_neighbour(void (*kernel)(float*)) {
  Buffer<float> out(kThreads);
  kiln::launch(kernel, 1, kThreads, 0, nullptr, out.p);
  const auto h = out.download();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(h[t], static_cast<float>((t + 1) % kThreads));
}

void run_warp_reduce(void (*kernel)(const float*, float*)) {
  Buffer<float> in(kBlocks * kThreads), out(kBlocks);
  in.upload(iota_floats(kBlocks * kThreads));
  kiln::launch(kernel, kBlocks, kThreads, 0, nullptr, in.p, out.p);
  const auto h = out.download();
  for (int b = 0; b < kBlocks; ++b) {
    const float first = 1.0f + b * kThreads, last = first + kThreads - 1;
    EXPECT_EQ(h[b], (first + last) * kThreads / 2) << "block " << b;
  }
}

void run_tile_reload(void (*kernel)(const float*, float*)) {
  Buffer<float> in(2 * kThreads), out(kThreads);
  const std::vector<float> v = iota_floats(2 * kThreads);
  in.upload(v);
  kiln::launch(kernel, 1, kThreads, 0, nullptr, in.p, out.p);
  const auto h = out.download();
  for (int t = 0; t < kThreads; ++t) {
    const int n = (t + 1) % kThreads;
    EXPECT_EQ(h[t], v[n] + v[kThreads + n]) << "thread " << t;
  }
}

void run_global_total(void (*kernel)(const int*, int*)) {
  Buffer<int> in(kBlocks, 3), total(1, 0);
  kiln::launch(kernel, kBlocks, 32, 0, nullptr, in.p, total.p);
  EXPECT_EQ(total.download()[0], 3 * kBlocks);
}

void run_last_block_sum(void (*kernel)(const float*, float*, unsigned*, float*)) {
  Buffer<float> in(kBlocks), partial(kBlocks), out(1);
  Buffer<unsigned> done(1, 0);
  in.upload(iota_floats(kBlocks));
  kiln::launch(kernel, kBlocks, 32, 0, nullptr, in.p, partial.p, done.p, out.p);
  EXPECT_EQ(out.download()[0], 2.0f * kBlocks * (kBlocks + 1) / 2);
}

// ---- the correct kernels run clean (in every build) ----------------------------------------------

TEST(CleanKernels, NeighbourReadAfterSyncthreads) {
  KILN_REQUIRE_DEVICE();
  run_neighbour(neighbour_read);
}
TEST(CleanKernels, WarpReductionWithSyncwarp) {
  KILN_REQUIRE_DEVICE();
  run_warp_reduce(warp_reduce);
}
TEST(CleanKernels, TileReloadAfterSecondSyncthreads) {
  KILN_REQUIRE_DEVICE();
  run_tile_reload(tile_reload);
}
TEST(CleanKernels, GlobalTotalWithAtomicAdd) {
  KILN_REQUIRE_DEVICE();
  run_global_total(global_total);
}
TEST(CleanKernels, LastBlockSumWithThreadfence) {
  KILN_REQUIRE_DEVICE();
  run_last_block_sum(last_block_sum);
}

// ---- the racy kernels, each in a child process ---------------------------------------------------

TEST(RacyKernels, DISABLED_NeighbourRead) { run_neighbour(racy_neighbour_read); }
TEST(RacyKernels, DISABLED_WarpReduce) { run_warp_reduce(racy_warp_reduce); }
TEST(RacyKernels, DISABLED_TileReload) { run_tile_reload(racy_tile_reload); }
TEST(RacyKernels, DISABLED_GlobalTotal) { run_global_total(racy_global_total); }
TEST(RacyKernels, DISABLED_LastBlockSum) { run_last_block_sum(racy_last_block_sum); }

#if defined(__SANITIZE_THREAD__)
constexpr bool kRacecheck = true;
#else
constexpr bool kRacecheck = false;
#endif

// Runs RacyKernels.DISABLED_<test> in a child process with `env` set and checks that it died of
// a ThreadSanitizer data race report naming `kernel` and both lines of racecheck_test.cu.
void expect_race(const std::string& test, const std::string& kernel, int line_a, int line_b,
                 const std::string& env = "") {
  if (!kRacecheck) GTEST_SKIP() << "needs -DKILN_SANITIZE=thread (the racecheck build)";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  // Ascending order and the default worker count unless `env` says otherwise: the order decides
  // which pair of accesses TSan meets first.
  const auto r = kiln::testing::run_command(
      "env KILN_EMU_ORDER=ascending " + env + " '" + self +
      "' --gtest_also_run_disabled_tests --gtest_filter=RacyKernels.DISABLED_" + test);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ThreadSanitizer: data race"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" " + kernel + " "), std::string::npos) << "want the kernel " << kernel
                                                            << " in:\n" << r.output;
  for (const int line : {line_a, line_b}) {
    const std::string where = "racecheck_test.cu:" + std::to_string(line);
    EXPECT_NE(r.output.find(where), std::string::npos) << "want " << where << " in:\n" << r.output;
  }
}

TEST(Racecheck, ReportsNeighbourReadWithoutSyncthreads) {
  expect_race("NeighbourRead", "racy_neighbour_read", kNeighbourWrite, kNeighbourRead);
}
TEST(Racecheck, ReportsWarpReductionWithoutSyncwarp) {
  expect_race("WarpReduce", "racy_warp_reduce", kWarpStep16, kWarpStep1);
}
TEST(Racecheck, ReportsWriteAfterReadWithoutSecondSyncthreads) {
  expect_race("TileReload", "racy_tile_reload", kTileWrite, kTileRead);
}
TEST(Racecheck, ReportsBlocksAddingIntoOneWordWithoutAtomics) {
  expect_race("GlobalTotal", "racy_global_total", kTotalRead, kTotalWrite);
}
TEST(Racecheck, ReportsBlocksRacingOnOneWorker) {
  // Blocks run one after the other on the same OS thread are still unordered.
  expect_race("GlobalTotal", "racy_global_total", kTotalRead, kTotalWrite, "KILN_EMU_WORKERS=1");
}
TEST(Racecheck, ReportsAtomicFlagWithoutThreadfence) {
  expect_race("LastBlockSum", "racy_last_block_sum", kPartialWrite, kPartialRead);
}

}  // namespace
