#include "cpu_fallback/parallel.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::cpu::detail {

void blas_single_threaded() {
  static std::atomic<bool> done{false};
  if (done.load(std::memory_order_acquire)) return;
  openblas_set_num_threads(1);
  done.store(true, std::memory_order_release);
}

namespace {
// A piece of at least this many flops is worth a thread of its own.
constexpr double kPieceFlops = 4.0e6;
constexpr int kMaxPieces = 16;
}  // namespace

namespace {

class WorkerPool {
 public:
  explicit WorkerPool(int workers) {
    for (int t = 0; t < workers; ++t) threads_.emplace_back([this] { work(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  void run(int64_t count, void (*body)(void*, int64_t), void* ctx) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      body_ = body;
      ctx_ = ctx;
      next_ = 0;
      count_ = count;
      in_flight_ = 0;
    }
    cv_work_.notify_all();
    in_loop() = true;
    std::unique_lock<std::mutex> lk(mu_);
    while (next_ < count_) {
      const int64_t i = next_++;
      lk.unlock();
      body(ctx, i);
      lk.lock();
    }
    // Every item is taken; wait only for those that workers are running.
    cv_done_.wait(lk, [this] { return in_flight_ == 0; });
    body_ = nullptr;
    count_ = 0;
    in_loop() = false;
  }

  static bool& in_loop() {
    thread_local bool flag = false;
    return flag;
  }

 private:
  void work() {
    in_loop() = true;  // a worker's own parallel_for calls run serially
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_work_.wait(lk, [this] { return stop_ || (body_ != nullptr && next_ < count_); });
      if (stop_) return;
      while (body_ != nullptr && next_ < count_) {
        const int64_t i = next_++;
        auto* body = body_;
        void* ctx = ctx_;
        ++in_flight_;
        lk.unlock();
        body(ctx, i);
        lk.lock();
        if (--in_flight_ == 0 && next_ >= count_) cv_done_.notify_all();
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  void (*body_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t next_ = 0, count_ = 0, in_flight_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

std::mutex g_pool_mu;  // one parallel_for at a time from outside (callers on several threads serialise)

WorkerPool& pool() {
  static WorkerPool p(std::max(1, omp_get_max_threads()) - 1);
  return p;
}

}  // namespace

void parallel_for(int64_t count, void (*body)(void*, int64_t), void* context) {
  if (count <= 0) return;
  if (count == 1 || omp_get_max_threads() <= 1 || omp_in_parallel() || WorkerPool::in_loop()) {
    for (int64_t i = 0; i < count; ++i) body(context, i);
    return;
  }
  std::unique_lock<std::mutex> lk(g_pool_mu, std::try_to_lock);
  if (!lk.owns_lock()) {  // another thread is using the workers: do it here
    for (int64_t i = 0; i < count; ++i) body(context, i);
    return;
  }
  pool().run(count, body, context);
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
  blas_single_threaded();
  if (m <= 0 || n <= 0) return;
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const double flops = 2.0 * m * n * std::max(k, 1);
  // Split the longer side into pieces of >= 64 rows/columns (multiples of 16); shape-only.
  const bool split_n = n >= m;
  const int len = split_n ? n : m;
  int pieces = static_cast<int>(std::min<double>(flops / kPieceFlops, kMaxPieces));
  pieces = std::max(1, std::min(pieces, len / 64));
  if (pieces <= 1) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const int step = ((len + pieces - 1) / pieces + 15) / 16 * 16;
  pieces = (len + step - 1) / step;
  parallel_for(pieces, [&](int64_t p) {
    const int lo = static_cast<int>(p) * step, cnt = std::min(step, len - lo);
    if (split_n) {
      // columns [lo, lo+cnt) of B and C
      const float* bp = trans_b ? b + static_cast<int64_t>(lo) * ldb : b + lo;
      cblas_sgemm(CblasRowMajor, ta, tb, m, cnt, k, alpha, a, lda, bp, ldb, beta, c + lo, ldc);
    } else {
      // rows [lo, lo+cnt) of A and C
      const float* ap = trans_a ? a + lo : a + static_cast<int64_t>(lo) * lda;
      cblas_sgemm(CblasRowMajor, ta, tb, cnt, n, k, alpha, ap, lda, b, ldb, beta, c + static_cast<int64_t>(lo) * ldc,
                  ldc);
    }
  });
}

float* scratch(int slot, size_t count) {
  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t size = 0;
  };
  thread_local Buffer buffers[kScratchSlots];
  Buffer& buf = buffers[slot];
  if (buf.size < count) {
    buf.data.reset(new float[count]);
    buf.size = count;
  }
  return buf.data.get();
}

}  // namespace kiln::cpu::detail
