#include "cpu_fallback/detail.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <memory>

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
#pragma omp parallel for schedule(dynamic, 1) if (can_fork())
  for (int p = 0; p < pieces; ++p) {
    const int lo = p * step, cnt = std::min(step, len - lo);
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
  }
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
