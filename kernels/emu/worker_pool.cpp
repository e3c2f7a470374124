// The workers that run the blocks of a grid: one per core (env KILN_EMU_WORKERS), the launching
// thread one of them. Each block runs whole on one worker (block_runner.cpp).
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/sanitizer.h"

namespace kiln::emu {
namespace {

using internal::install_fault_reporter;

int configured_workers() {
  if (const char* e = std::getenv("KILN_EMU_WORKERS"); e && *e) {
    const int v = std::atoi(e);
    if (v >= 1 && v <= 1024) return v;
    std::fprintf(stderr, "kiln emulator: ignoring KILN_EMU_WORKERS=%s (want 1..1024)\n", e);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  // Racecheck build: TSan keeps at most 8128 threads alive, fibers included, and every worker
  // holds up to 1024 running GPU threads plus its retired ones (block_runner.cpp).
  const int most = san::tsan ? 4 : 1024;
  return hc ? std::min(static_cast<int>(hc), most) : 1;
}

// Workers take blocks from an atomic counter; the launching thread works too. A job is published
// with a seqlock-like generation (odd while being written) so that a worker never runs a
// half-written job, and the launcher never rewrites one a worker is still inside.
class Pool {
 public:
  Pool() : workers_(configured_workers()) {
    install_fault_reporter();
    for (int i = 1; i < workers_; ++i) threads_.emplace_back([this] { worker_main(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(sleep_mutex_);
      shutdown_.store(true);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return workers_; }

  void run(const LaunchSpec& spec, uint32_t blocks) {
    std::lock_guard launch_lock(launch_mutex_);
    const uint64_t g = gen_.load(std::memory_order_relaxed);
    gen_.store(g + 1, std::memory_order_seq_cst);  // odd: being written
    while (busy_.load(std::memory_order_seq_cst) != 0) _mm_pause();
    spec_ = &spec;
    total_ = blocks;
    next_.store(0, std::memory_order_relaxed);
    stop_.store(false, std::memory_order_relaxed);
    has_error_ = false;
    // KILN_EMU_ORDER: blocks taken in ascending, descending or a random order (an affine
    // permutation b -> (a*b + c) mod blocks with a coprime to blocks), seeded per launch.
    const OrderConfig o = order();
    order_ = o.order;
    ++launches_;
    seed_ = o.seed * 0x9e3779b97f4a7c15ull + launches_;
    if (order_ == Order::Random && blocks > 1) {
      uint64_t x = seed_;
      x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
      uint64_t a = (x % blocks) | 1;
      while (std::gcd(a, uint64_t{blocks}) != 1) a += 2;
      mul_ = a % blocks;
      add_ = (x >> 17) % blocks;
    }
    gen_.store(g + 2, std::memory_order_seq_cst);  // even: ready
    if (blocks > 1 && sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard lock(sleep_mutex_); }
      cv_.notify_all();
    }
    work();
    while (busy_.load(std::memory_order_acquire) != 0) _mm_pause();
    if (has_error_) throw Error(error_, spec.site);
  }

 private:
  void work() {
    for (;;) {
      if (stop_.load(std::memory_order_relaxed)) return;
      const uint32_t b = next_.fetch_add(1, std::memory_order_relaxed);
      if (b >= total_) return;
      const uint32_t block = order_ == Order::Ascending    ? b
                             : order_ == Order::Descending ? total_ - 1 - b
                             : total_ > 1 ? static_cast<uint32_t>((mul_ * b + add_) % total_)
                                          : 0;
      try {
        internal::run_block(*spec_, block, seed_);
      } catch (const Error& e) {
        record(e.message());
      } catch (const std::exception& e) {
        record(e.what());
      }
    }
  }
  void record(const std::string& message) {
    std::lock_guard lock(error_mutex_);
    if (!has_error_) {
      has_error_ = true;
      error_ = message;
    }
    stop_.store(true, std::memory_order_relaxed);
  }
  bool ready(uint64_t g, uint64_t seen) const { return g != seen && !(g & 1); }

  void worker_main() {
    uint64_t seen = gen_.load();
    for (;;) {
      uint64_t g = gen_.load(std::memory_order_acquire);
      if (!ready(g, seen)) {
        // Spin briefly (a launch that follows soon is cheap), then sleep.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        for (int i = 0;; ++i) {
          _mm_pause();
          g = gen_.load(std::memory_order_acquire);
          if (ready(g, seen) || shutdown_.load(std::memory_order_relaxed)) break;
          if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) break;
        }
        if (!ready(g, seen)) {
          std::unique_lock lock(sleep_mutex_);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          cv_.wait(lock, [&] {
            g = gen_.load(std::memory_order_seq_cst);
            return shutdown_.load() || ready(g, seen);
          });
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        }
      }
      if (shutdown_.load()) return;
      seen = g;
      busy_.fetch_add(1, std::memory_order_seq_cst);
      if (gen_.load(std::memory_order_seq_cst) == g) work();
      busy_.fetch_sub(1, std::memory_order_release);
    }
  }

  int workers_;
  std::vector<std::thread> threads_;
  std::mutex launch_mutex_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> busy_{0};
  std::atomic<uint32_t> next_{0};
  std::atomic<bool> stop_{false};
  uint32_t total_ = 0;
  Order order_ = Order::Ascending;
  uint64_t launches_ = 0, seed_ = 0, mul_ = 1, add_ = 0;
  const LaunchSpec* spec_ = nullptr;
  std::mutex error_mutex_;
  bool has_error_ = false;
  std::string error_;
  std::mutex sleep_mutex_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> shutdown_{false};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

namespace internal {
void run_grid(const LaunchSpec& spec, uint32_t blocks) { pool().run(spec, blocks); }
}  // namespace internal

int worker_count() { return pool().workers(); }

}  // namespace kiln::emu
