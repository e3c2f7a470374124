// Tests of the CUDA emulator (KILN_GPU=emulate), written as ordinary CUDA: the same file compiles
// with nvcc, where the tests run on a real GPU (or skip themselves where there is none). Tests of
// what only the emulator can do (report a deadlock instead of hanging, catch an exception thrown by
// a kernel, strict warp checks) are compiled only under KILN_EMULATE.
#undef NDEBUG  // the assert test needs assert() in kernels, also in Release builds
#include <cassert>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/launch.cuh"
#include "tests/common/device.h"

namespace {

// ---- helpers ------------------------------------------------------------------------------------

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T));
    if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p_); }
  T* get() const { return p_; }
  void upload(const std::vector<T>& host) {
    EXPECT_EQ(cudaSuccess, cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaSuccess, cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    EXPECT_EQ(cudaSuccess, cudaDeviceSynchronize());
    return host;
  }
  void zero() { EXPECT_EQ(cudaSuccess, cudaMemset(p_, 0, n_ * sizeof(T))); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Waits for all queued work, rethrowing a kernel's error as kiln::Error (emulator).
void sync_device() { cudaDeviceSynchronize(); }

std::vector<float> random_floats(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ---- kernels ------------------------------------------------------------------------------------

constexpr int kTile = 16;

// C (M x N) = A (M x K) * B (K x N), row-major; 16x16 shared-memory tiles, explicit tails.
__global__ void __launch_bounds__(kTile * kTile)
tiled_sgemm(const float* a, const float* b, float* c, int m, int n, int k) {
  __shared__ float as[kTile][kTile];
  __shared__ float bs[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * kTile + ty, col = blockIdx.x * kTile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += kTile) {
    as[ty][tx] = (row < m && k0 + tx < k) ? a[row * k + k0 + tx] : 0.0f;
    bs[ty][tx] = (col < n && k0 + ty < k) ? b[(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int kk = 0; kk < kTile; ++kk) acc += as[ty][kk] * bs[kk][tx];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// One partial sum per block: warp shuffles, then warp 0 alone reduces the per-warp partials.
__global__ void block_sum(const float* x, int n, float* partial) {
  __shared__ float warp_totals[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
  v = warp_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {  // only one warp takes part in these shuffles
    const int warps = blockDim.x / 32;
    v = lane < warps ? warp_totals[lane] : 0.0f;
    v = warp_sum(v);
    if (lane == 0) partial[blockIdx.x] = v;
  }
}

// Softmax of each row of x (rows x cols), one block per row.
__global__ void softmax_rows(const float* x, float* y, int cols) {
  __shared__ float scratch[32];
  __shared__ float row_max, row_sum;
  const float* in = x + static_cast<size_t>(blockIdx.x) * cols;
  float* out = y + static_cast<size_t>(blockIdx.x) * cols;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;

  float m = -INFINITY;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, in[i]);
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane == 0) scratch[warp] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    float mm = scratch[0];
    for (int w = 1; w < warps; ++w) mm = fmaxf(mm, scratch[w]);
    row_max = mm;
  }
  __syncthreads();
  float s = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) s += __expf(in[i] - row_max);
  s = warp_sum(s);
  __syncthreads();  // everyone has read scratch[] above
  if (lane == 0) scratch[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float ss = 0.0f;
    for (int w = 0; w < warps; ++w) ss += scratch[w];
    row_sum = ss;
  }
  __syncthreads();
  const float inv = 1.0f / row_sum;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) out[i] = __expf(in[i] - row_max) * inv;
}

// Reverses each block's slice through dynamic shared memory; `unset` counts shared floats that
// were read before being written (NaN in the emulator's fill pattern).
__global__ void reverse_blocks(const float* x, float* y, int n, int* unset) {
  KILN_DYNAMIC_SHARED(float, buf);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int extra = blockDim.x;  // the second half of buf is never written
  if (threadIdx.x == 0 && isnan(buf[extra])) atomicAdd(unset, 1);
  buf[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  const int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
  if (j < n) y[j] = buf[threadIdx.x];
}

__global__ void atomics_kernel(float* fsum, int* isum, int* imax, unsigned* umin,
                               unsigned long long* ull, int* cas_winner, double* dsum) {
  const int gid = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(fsum, 1.0f);
  atomicAdd(isum, 2);
  atomicMax(imax, gid);
  atomicMin(umin, static_cast<unsigned>(gid + 5));
  atomicAdd(ull, 1ull);
  atomicAdd(dsum, 0.5);
  atomicCAS(cas_winner, -1, gid);  // exactly one thread wins
  __threadfence();
}

// Barrier reductions: out = {count(tid % 3 == 0), and(tid < n), and(tid < n - 1), or(tid == 57),
// or(false)} over a block of n threads.
__global__ void barrier_reductions(int* out) {
  const int t = threadIdx.x, n = blockDim.x;
  const int c = __syncthreads_count(t % 3 == 0);
  const int a1 = __syncthreads_and(t < n);
  const int a0 = __syncthreads_and(t < n - 1);
  const int o1 = __syncthreads_or(t == 57);
  const int o0 = __syncthreads_or(0);
  if (t == 0) {
    out[0] = c;
    out[1] = a1;
    out[2] = a0;
    out[3] = o1;
    out[4] = o0;
  }
}

// Warp votes and shuffles with partial masks and widths. Block of 64 threads; out has 64 * 8 ints.
__global__ void warp_ops(int* out) {
  const int t = threadIdx.x, lane = t % 32, warp = t / 32;
  int* o = out + t * 8;
  if (warp == 0) {
    if (lane < 16) {
      const unsigned mask = 0x0000ffffu;
      o[0] = static_cast<int>(__ballot_sync(mask, lane & 1));
      o[1] = __shfl_sync(mask, lane * 10, 3, 8);  // lane 3 of each group of 8
      o[2] = __shfl_up_sync(mask, lane, 2, 16);
      o[3] = __shfl_xor_sync(mask, lane, 1, 16);
    } else {
      const unsigned mask = 0xffff0000u;
      o[0] = __any_sync(mask, lane == 20);
      o[1] = __all_sync(mask, lane >= 16);
      o[2] = __any_sync(mask, lane == 3);
      o[3] = __shfl_down_sync(mask, lane, 4, 16);
    }
    __syncwarp();
    o[4] = static_cast<int>(__activemask());
  } else {
    o[0] = __all_sync(0xffffffffu, lane < 31);
    o[1] = __all_sync(0xffffffffu, 1);
    o[2] = static_cast<int>(__ballot_sync(0xffffffffu, lane >= 28));
    o[3] = __shfl_sync(0xffffffffu, lane, 31 - lane);
    // Only the even lanes take part in this one.
    if (lane % 2 == 0) o[4] = __shfl_xor_sync(0x55555555u, lane, 2);
    else o[4] = -1;
  }
}

__global__ void index_kernel(int* out) {
  const int bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  __syncthreads();  // the same indices must come out of fibers
  out[bx * threads + tx] = bx * 1000 + tx;
}

__global__ void empty_kernel() {}

}  // namespace

// ---- tests that run on any device ----------------------------------------------------------------

TEST(Emulator, TiledSgemmOddSizes) {
  KILN_REQUIRE_DEVICE();
  const int m = 37, n = 53, k = 29;
  const auto ha = random_floats(size_t{m} * k, 1), hb = random_floats(size_t{k} * n, 2);
  DeviceBuffer<float> a(ha), b(hb), c(size_t{m} * n);
  kiln::launch(tiled_sgemm, dim3((n + kTile - 1) / kTile, (m + kTile - 1) / kTile), dim3(kTile, kTile),
               0, nullptr, a.get(), b.get(), c.get(), m, n, k);
  const auto hc = c.download();
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int p = 0; p < k; ++p) ref += double{ha[i * k + p]} * hb[p * n + j];
      ASSERT_NEAR(hc[i * n + j], ref, 1e-4) << "at (" << i << "," << j << ")";
    }
  }
}

TEST(Emulator, BlockReductionWithOneWarpShuffling) {
  KILN_REQUIRE_DEVICE();
  const int n = 100003, blocks = 7, threads = 256;
  const auto hx = random_floats(n, 3);
  DeviceBuffer<float> x(hx), partial(blocks);
  kiln::launch(block_sum, blocks, threads, 0, nullptr, x.get(), n, partial.get());
  const auto hp = partial.download();
  const double got = std::accumulate(hp.begin(), hp.end(), 0.0);
  const double ref = std::accumulate(hx.begin(), hx.end(), 0.0);
  EXPECT_NEAR(got, ref, 1e-3);
}

TEST(Emulator, SoftmaxPerRow) {
  KILN_REQUIRE_DEVICE();
  const int rows = 5, cols = 301;
  const auto hx = random_floats(size_t{rows} * cols, 4, -8.0f, 8.0f);
  DeviceBuffer<float> x(hx), y(size_t{rows} * cols);
  kiln::launch(softmax_rows, rows, 128, 0, nullptr, x.get(), y.get(), cols);
  const auto hy = y.download();
  for (int r = 0; r < rows; ++r) {
    double mx = -1e30, sum = 0;
    for (int c = 0; c < cols; ++c) mx = std::max(mx, double{hx[r * cols + c]});
    for (int c = 0; c < cols; ++c) sum += std::exp(hx[r * cols + c] - mx);
    for (int c = 0; c < cols; ++c) {
      const double ref = std::exp(hx[r * cols + c] - mx) / sum;
      ASSERT_NEAR(hy[r * cols + c], ref, 1e-5 + 1e-4 * ref) << "row " << r << " col " << c;
    }
  }
}

TEST(Emulator, DynamicSharedMemory) {
  KILN_REQUIRE_DEVICE();
  const int n = 1000, threads = 64, blocks = (n + threads - 1) / threads;
  std::vector<float> hx(n);
  std::iota(hx.begin(), hx.end(), 0.0f);
  DeviceBuffer<float> x(hx), y(n);
  DeviceBuffer<int> unset(1);
  unset.zero();
  kiln::launch(reverse_blocks, blocks, threads, 2 * threads * sizeof(float), nullptr, x.get(),
               y.get(), n, unset.get());
  const auto hy = y.download();
  for (int i = 0; i < n; ++i) {
    const int b = i / threads, t = i % threads, src = b * threads + (threads - 1 - t);
    ASSERT_EQ(hy[i], src < n ? hx[src] : 0.0f) << "at " << i;
  }
#ifdef KILN_EMULATE
  // Every block saw the NaN fill pattern in the part of shared memory it never wrote.
  EXPECT_EQ(unset.download()[0], blocks);
#endif
}

TEST(Emulator, AtomicsFromManyBlocks) {
  KILN_REQUIRE_DEVICE();
  const int blocks = 64, threads = 256, total = blocks * threads;
  DeviceBuffer<float> fsum(1);
  DeviceBuffer<int> isum(1), imax(1), winner(1);
  DeviceBuffer<unsigned> umin(1);
  DeviceBuffer<unsigned long long> ull(1);
  DeviceBuffer<double> dsum(1);
  fsum.zero();
  isum.zero();
  ull.zero();
  dsum.zero();
  imax.upload({-1});
  winner.upload({-1});
  umin.upload({0xffffffffu});
  kiln::launch(atomics_kernel, blocks, threads, 0, nullptr, fsum.get(), isum.get(), imax.get(),
               umin.get(), ull.get(), winner.get(), dsum.get());
  EXPECT_EQ(fsum.download()[0], static_cast<float>(total));
  EXPECT_EQ(isum.download()[0], 2 * total);
  EXPECT_EQ(imax.download()[0], total - 1);
  EXPECT_EQ(umin.download()[0], 5u);
  EXPECT_EQ(ull.download()[0], static_cast<unsigned long long>(total));
  EXPECT_EQ(dsum.download()[0], 0.5 * total);
  const int w = winner.download()[0];
  EXPECT_GE(w, 0);
  EXPECT_LT(w, total);
}

TEST(Emulator, SyncthreadsCountAndOr) {
  KILN_REQUIRE_DEVICE();
  DeviceBuffer<int> out(5);
  kiln::launch(barrier_reductions, 1, 100, 0, nullptr, out.get());
  const auto h = out.download();
  EXPECT_EQ(h[0], 34);
  EXPECT_EQ(h[1], 1);
  EXPECT_EQ(h[2], 0);
  EXPECT_EQ(h[3], 1);
  EXPECT_EQ(h[4], 0);
}

TEST(Emulator, WarpVotesAndShufflesWithPartialMasks) {
  KILN_REQUIRE_DEVICE();
  DeviceBuffer<int> out(64 * 8);
  kiln::launch(warp_ops, 1, 64, 0, nullptr, out.get());
  const auto h = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    const int* o = &h[lane * 8];
    if (lane < 16) {
      EXPECT_EQ(o[0], 0xaaaa) << lane;
      EXPECT_EQ(o[1], ((lane & ~7) + 3) * 10) << lane;
      EXPECT_EQ(o[2], lane >= 2 ? lane - 2 : lane) << lane;
      EXPECT_EQ(o[3], lane ^ 1) << lane;
    } else {
      EXPECT_EQ(o[0], 1) << lane;
      EXPECT_EQ(o[1], 1) << lane;
      EXPECT_EQ(o[2], 0) << lane;
      EXPECT_EQ(o[3], lane + 4 < 32 ? lane + 4 : lane) << lane;
    }
    EXPECT_EQ(static_cast<unsigned>(o[4]) & (1u << lane), 1u << lane) << lane;
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int* o = &h[(32 + lane) * 8];
    EXPECT_EQ(o[0], 0) << lane;
    EXPECT_EQ(o[1], 1) << lane;
    EXPECT_EQ(static_cast<unsigned>(o[2]), 0xf0000000u) << lane;
    EXPECT_EQ(o[3], 31 - lane) << lane;
    EXPECT_EQ(o[4], lane % 2 == 0 ? (lane ^ 2) : -1) << lane;
  }
}

TEST(Emulator, MultiDimensionalIndices) {
  KILN_REQUIRE_DEVICE();
  const dim3 grid(3, 2, 2), block(8, 4, 2);
  const int blocks = 12, threads = 64;
  DeviceBuffer<int> out(blocks * threads);
  kiln::launch(index_kernel, grid, block, 0, nullptr, out.get());
  const auto h = out.download();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) ASSERT_EQ(h[b * threads + t], b * 1000 + t);
}

TEST(Emulator, BadLaunchConfigurationIsAnError) {
  KILN_REQUIRE_DEVICE();
  try {
    kiln::launch(empty_kernel, 1, 2048, 0, nullptr);
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "a block of 2048 threads was accepted";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaErrorInvalidConfiguration"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("empty_kernel"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("emu_test.cu"), std::string::npos) << e.what();
  }
  kiln::launch(empty_kernel, 1, 1024, 0, nullptr);  // the limit itself is fine
}

// ---- what only the emulator can do ----------------------------------------------------------------
#ifdef KILN_EMULATE

namespace {

__global__ void divergent_barrier(int* out) {
  if (blockIdx.x == 1 && threadIdx.x >= 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void warp_op_against_barrier(float* out) {
  float v = threadIdx.x;
  if (threadIdx.x < 16) v = __shfl_down_sync(0xffffffffu, v, 1);  // lanes 16-31 never come
  __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void shuffle_after_exit(float* out) {
  if (threadIdx.x % 32 >= 8) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
}

__global__ void throwing_kernel(int* out, int bad_block, int bad_thread) {
  __shared__ int s[256];
  s[threadIdx.x] = threadIdx.x;
  __syncthreads();
  if (static_cast<int>(blockIdx.x) == bad_block && static_cast<int>(threadIdx.x) == bad_thread)
    throw std::runtime_error("planted failure");
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

__global__ void positive_kernel(const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) assert(x[i] >= 0.0f);
}

__global__ void inactive_lane_read(float* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16) out[lane] = __shfl_sync(0x0000ffffu, static_cast<float>(lane), (lane + 16) % 32);
}

}  // namespace

TEST(EmulatorOnly, DivergentBarrierIsReportedNotHung) {
  DeviceBuffer<int> out(4 * 64);
  try {
    kiln::launch(divergent_barrier, 4, 64, 0, nullptr, out.get());
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "the divergent barrier was not reported";
  } catch (const kiln::Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("deadlock in kernel"), std::string::npos) << w;
    EXPECT_NE(w.find("divergent_barrier(int*)"), std::string::npos) << w;
    EXPECT_NE(w.find("block (1,0,0)"), std::string::npos) << w;
    EXPECT_TRUE(testing::internal::RE::PartialMatch(
        w, testing::internal::RE("threads 0-31 wait at __syncthreads \\(.*emu_test.cu:[0-9]+\\), "
                                 "threads 32-63 wait at __syncthreads \\(.*emu_test.cu:[0-9]+\\)")))
        << w;
  }
  // The emulator is usable afterwards.
  kiln::launch(index_kernel, 2, 64, 0, nullptr, out.get());
  EXPECT_EQ(out.download()[64 + 5], 1005);
}

TEST(EmulatorOnly, WarpOperationAgainstBarrierIsADeadlock) {
  DeviceBuffer<float> out(64);
  try {
    kiln::launch(warp_op_against_barrier, 1, 64, 0, nullptr, out.get());
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "not reported";
  } catch (const kiln::Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("threads 0-15 wait at a warp shuffle with mask 0xffffffff"), std::string::npos) << w;
    EXPECT_NE(w.find("threads 16-63 wait at __syncthreads"), std::string::npos) << w;
  }
}

TEST(EmulatorOnly, WarpOperationNamingExitedLanes) {
  DeviceBuffer<float> out(32);
  try {
    kiln::launch(shuffle_after_exit, 1, 32, 0, nullptr, out.get());
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "not reported";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("naming lanes 8-31 that exited"), std::string::npos) << e.what();
  }
}

TEST(EmulatorOnly, KernelExceptionReachesTheCallerAndFibersAreUnwound) {
  DeviceBuffer<int> out(16 * 256);
  for (const int bad_thread : {70, 0, 255}) {
    try {
      kiln::launch(throwing_kernel, 16, 256, 0, nullptr, out.get(), 3, bad_thread);
      sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
      FAIL() << "the exception was swallowed";
    } catch (const kiln::Error& e) {
      const std::string w = e.what();
      EXPECT_NE(w.find("planted failure"), std::string::npos) << w;
      EXPECT_NE(w.find("block (3,0,0)"), std::string::npos) << w;
      EXPECT_NE(w.find("thread (" + std::to_string(bad_thread) + ",0,0)"), std::string::npos) << w;
      EXPECT_NE(w.find("throwing_kernel"), std::string::npos) << w;
    }
  }
  // Later launches work, with barriers and all blocks.
  kiln::launch(throwing_kernel, 16, 256, 0, nullptr, out.get(), -1, -1);
  const auto h = out.download();
  for (int i = 0; i < 16 * 256; ++i) ASSERT_EQ(h[i], 255 - i % 256);
}

TEST(EmulatorOnly, ReadsOfLanesOutsideTheMaskAreAnError) {
  DeviceBuffer<float> out(32);
  ASSERT_TRUE(kiln::emu::strict());  // the default (KILN_EMU_STRICT=0 turns it off)
  try {
    kiln::launch(inactive_lane_read, 1, 32, 0, nullptr, out.get());
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "the read of a lane outside the mask was not flagged";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shuffles from lane 16, which is not in the mask"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("inactive_lane_read"), std::string::npos) << e.what();
  }
  kiln::emu::set_strict(false);  // lenient: the lane reads its own value
  kiln::launch(inactive_lane_read, 1, 32, 0, nullptr, out.get());
  sync_device();  // settings apply when the kernel runs (later, with deferred streams)
  kiln::emu::set_strict(true);
  EXPECT_EQ(out.download()[3], 3.0f);
}

TEST(EmulatorOnly, AssertInKernelIsAnError) {
  std::vector<float> hx(300, 1.0f);
  DeviceBuffer<float> x(hx);
  kiln::launch(positive_kernel, 3, 128, 0, nullptr, x.get(), 300);
  hx[200] = -1.0f;
  x.upload(hx);
  try {
    kiln::launch(positive_kernel, 3, 128, 0, nullptr, x.get(), 300);
    sync_device();  // with deferred streams (KILN_EMU_STREAMS) the error surfaces here
    FAIL() << "the failed assert was not reported";
  } catch (const kiln::Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("assertion `x[i] >= 0.0f` failed"), std::string::npos) << w;
    EXPECT_NE(w.find("block (1,0,0) thread (72,0,0)"), std::string::npos) << w;
  }
}

TEST(EmulatorOnly, DeviceProperties) {
  cudaDeviceProp p{};
  ASSERT_EQ(cudaSuccess, cudaGetDeviceProperties(&p, 0));
  EXPECT_EQ(std::string(p.name).rfind("kiln CUDA emulator", 0), 0u) << p.name;
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  EXPECT_EQ(p.major * 10 + p.minor, kiln::emu::device_config().sm);
  EXPECT_EQ(p.multiProcessorCount, kiln::emu::worker_count());
  EXPECT_EQ(cudaErrorInvalidDevice, cudaSetDevice(kiln::emu::device_config().devices));
  EXPECT_EQ(cudaErrorInvalidDevice, cudaPeekAtLastError());
  EXPECT_EQ(cudaErrorInvalidDevice, cudaGetLastError());
  EXPECT_EQ(cudaSuccess, cudaGetLastError());
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidDevice), "cudaErrorInvalidDevice");
  size_t free = 0, total = 0;
  ASSERT_EQ(cudaSuccess, cudaMemGetInfo(&free, &total));
  EXPECT_GT(total, 0u);
  EXPECT_LE(free, total);
}

// ---- AddressSanitizer catches out-of-bounds accesses in emulated kernels ----------------------------
#if defined(__SANITIZE_ADDRESS__)
#define KILN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_TEST_ASAN 1
#endif
#endif

#ifdef KILN_TEST_ASAN
namespace {
__global__ void shared_overrun(float* out) {
  KILN_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x + 1] = 1.0f;  // the last thread writes one float past the end
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}
__global__ void global_overrun(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i + (i == n - 1 ? 1 : 0)] = 1.0f;  // thread n-1 writes out[n]
}
}  // namespace
#endif

TEST(EmulatorOnly, OutOfBoundsWritesAreCaughtUnderASan) {
#ifndef KILN_TEST_ASAN
  GTEST_SKIP() << "needs an AddressSanitizer build (cmake -DKILN_SANITIZE=ON)";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(64);
        kiln::launch(shared_overrun, 2, 64, 64 * sizeof(float), nullptr, out.get());
      },
      "heap-buffer-overflow(.|\n)*kiln emulator: fault in kernel .*shared_overrun.* block "
      "\\([01],0,0\\) thread \\(63,0,0\\)");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(100);
        kiln::launch(global_overrun, 2, 50, 0, nullptr, out.get(), 100);
      },
      "heap-buffer-overflow(.|\n)*kiln emulator: fault in kernel .*global_overrun.* block "
      "\\(1,0,0\\) thread \\(49,0,0\\)");
#endif
}

#endif  // KILN_EMULATE
