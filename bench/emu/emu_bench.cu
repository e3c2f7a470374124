// What the CUDA emulator costs, measured on this machine:
//   fiber switch            one Boost.Context jump (half a round trip)
//   __syncthreads           per thread per barrier, one block of 256 threads
//   SGEMM 512^3             64x64 tiles, 256 threads with 4x4 register blocking, all workers
//   empty launch            1 block of 256 threads running an empty kernel
//   barrier-free kernel     per thread, an elementwise kernel over 16M threads
// Run: ./build-emu/bench/emu/emu_bench   (KILN_EMU_WORKERS=N to change the pool)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/launch.cuh"

namespace {

using Clock = std::chrono::steady_clock;
// Timed regions start and end with the device idle: launches return before their kernels have
// run on a GPU (and with the emulator's deferred streams, KILN_EMU_STREAMS=deferred).
Clock::time_point synced_now() {
  cudaDeviceSynchronize();
  return Clock::now();
}
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(synced_now() - t0).count();
}

__global__ void barrier_loop(int iterations, int* out) {
  int v = 0;
  for (int i = 0; i < iterations; ++i) {
    v += i;
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = v;
}

__global__ void empty_kernel() {}

__global__ void axpy(float a, const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;  // 16 x 16 threads, 4x4 each

// C (M x N) = A (M x K) B (K x N), row-major; dimensions multiples of the tiles.
__global__ void __launch_bounds__(256)
sgemm_4x4(const float* a, const float* b, float* c, int m, int n, int k) {
  (void)m;  // the grid covers the rows
  __shared__ float as[BK][BM];  // transposed A tile
  __shared__ float bs[BK][BN];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  float acc[TM][TN] = {};
  for (int k0 = 0; k0 < k; k0 += BK) {
    for (int i = threadIdx.x; i < BM * BK; i += 256) {
      const int r = i / BK, kk = i % BK;
      as[kk][r] = a[(row0 + r) * k + k0 + kk];
      const int kb = i / BN, cb = i % BN;
      bs[kb][cb] = b[(k0 + kb) * n + col0 + cb];
    }
    __syncthreads();
    for (int kk = 0; kk < BK; ++kk) {
      float ra[TM], rb[TN];
      for (int i = 0; i < TM; ++i) ra[i] = as[kk][ty * TM + i];
      for (int j = 0; j < TN; ++j) rb[j] = bs[kk][tx * TN + j];
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) c[(row0 + ty * TM + i) * n + col0 + tx * TN + j] = acc[i][j];
}

template <typename T>
T* device_alloc(size_t n) {
  void* p = nullptr;
  if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) std::abort();
  return static_cast<T*>(p);
}

// __syncthreads cost per thread in a block of 256.
void bench_syncthreads() {
  int* out = device_alloc<int>(1);
  const int iters = 200, threads = 256;
  kiln::launch(barrier_loop, 1, threads, 0, nullptr, 10, out);
  double s = 1e30;  // best of short runs: robust against other processes on a busy machine
  for (int r = 0; r < 30; ++r) {
    const auto t0 = synced_now();
    kiln::launch(barrier_loop, 1, threads, 0, nullptr, iters, out);
    s = std::min(s, seconds_since(t0));
  }
  std::printf("__syncthreads           %8.1f ns per thread (block of %d)\n",
              s * 1e9 / (double(iters) * threads), threads);
  cudaFree(out);
}

// SGEMM 512^3 with the 4x4 register-blocked kernel, checked against one host dot product.
void bench_sgemm() {
  const int n = 512;
  std::vector<float> ha(size_t{n} * n), hb(size_t{n} * n);
  for (size_t i = 0; i < ha.size(); ++i) {
    ha[i] = float(i % 7) * 0.25f;
    hb[i] = float(i % 5) * 0.5f;
  }
  float *a = device_alloc<float>(ha.size()), *b = device_alloc<float>(hb.size()),
        *c = device_alloc<float>(ha.size());
  cudaMemcpy(a, ha.data(), ha.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(b, hb.data(), hb.size() * 4, cudaMemcpyHostToDevice);
  const dim3 grid(n / BN, n / BM);
  kiln::launch(sgemm_4x4, grid, 256, 0, nullptr, a, b, c, n, n, n);
  double best = 1e30;
  for (int r = 0; r < 10; ++r) {
    const auto t0 = synced_now();
    kiln::launch(sgemm_4x4, grid, 256, 0, nullptr, a, b, c, n, n, n);
    best = std::min(best, seconds_since(t0));
  }
  // Spot check one element against a host dot product.
  std::vector<float> hc(ha.size());
  cudaMemcpy(hc.data(), c, hc.size() * 4, cudaMemcpyDeviceToHost);
  double ref = 0;
  for (int p = 0; p < n; ++p) ref += double(ha[size_t{77} * n + p]) * hb[static_cast<size_t>(p) * n + 300];
  std::printf("SGEMM 512^3 (4x4 reg)   %8.2f GFLOP/s (%.1f ms; check %s)\n",
              2.0 * n * n * n / best * 1e-9, best * 1e3,
              std::abs(hc[size_t{77} * n + 300] - ref) < 1e-2 * std::abs(ref) + 1e-3 ? "ok" : "FAILED");
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

// An empty launch of one block.
void bench_empty_launch() {
  const int launches = 1000;
  for (int i = 0; i < 1000; ++i) kiln::launch(empty_kernel, 1, 256, 0, nullptr);
  double best = 1e30;
  for (int r = 0; r < 30; ++r) {
    const auto t0 = synced_now();
    for (int i = 0; i < launches; ++i) kiln::launch(empty_kernel, 1, 256, 0, nullptr);
    best = std::min(best, seconds_since(t0));
  }
  std::printf("empty launch (1 x 256)     %7.2f us\n", best * 1e6 / launches);
}

// The emulator's own per-thread cost: an empty kernel over 64K threads.
void bench_empty_kernel_per_thread() {
  const int n = 1 << 16, reps = 10;
  double best = 1e30;
  for (int r = 0; r < 30; ++r) {
    const auto t0 = synced_now();
    for (int i = 0; i < reps; ++i) kiln::launch(empty_kernel, n / 256, 256, 0, nullptr);
    best = std::min(best, seconds_since(t0) / reps);
  }
  std::printf("barrier-free kernel     %8.2f ns per thread (empty, %d threads)\n", best * 1e9 / n, n);
}

// Per-thread cost of a kernel that never synchronises: an axpy over data that stays in cache
// (the emulator's own overhead), then over 16M elements (bounded by memory bandwidth).
void bench_axpy_per_thread() {
  for (const int n : {1 << 16, 1 << 24}) {
  float* x = device_alloc<float>(n);
  float* y = device_alloc<float>(n);
  cudaMemset(x, 0, static_cast<size_t>(n) * 4);
  cudaMemset(y, 0, static_cast<size_t>(n) * 4);
  const int reps = n < (1 << 20) ? 10 : 1;
  kiln::launch(axpy, (n + 255) / 256, 256, 0, nullptr, 2.0f, x, y, n);
  double best = 1e30;
  for (int r = 0; r < (reps > 1 ? 30 : 3); ++r) {
    const auto t0 = synced_now();
    for (int i = 0; i < reps; ++i) kiln::launch(axpy, (n + 255) / 256, 256, 0, nullptr, 2.0f, x, y, n);
    best = std::min(best, seconds_since(t0) / reps);
  }
  std::printf("barrier-free kernel     %8.2f ns per thread (axpy, %d threads%s)\n", best * 1e9 / n,
              n, n < (1 << 20) ? ", in cache" : ", memory-bound");
  cudaFree(x);
  cudaFree(y);
  }
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s, %d workers\n", prop.name, prop.multiProcessorCount);

#ifdef KILN_EMULATE
  kiln::emu::measure_fiber_switch_ns(100000);
  std::printf("fiber switch            %8.1f ns\n", kiln::emu::measure_fiber_switch_ns(2000000));
#endif

  bench_syncthreads();
  bench_sgemm();
  bench_empty_launch();
  bench_empty_kernel_per_thread();
  bench_axpy_per_thread();
  return 0;
}
