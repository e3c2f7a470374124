// How cpu_fallback/ runs in parallel (internal, not part of the API; namespace kiln::cpu::detail):
// the thread pool and its loops, the blocked multithreaded SGEMM every CPU op uses, per-thread
// scratch memory and deterministic chunked reductions.
//
// Threading: one pool, OpenMP's. Debian's libopenblas0-pthread runs its own thread pool and does
// not notice OpenMP: a multithreaded sgemm next to OpenMP regions (or called from several OpenMP
// threads) oversubscribes the cores, and on a busy machine each hand-over between the two pools
// costs a scheduler time slice (milliseconds; measured: a 64x500x800 sgemm 0.6 ms on one thread,
// 8.5 ms with OpenBLAS's two threads right after an OpenMP region on a loaded 2-core machine).
// So the first CPU op sets OpenBLAS to one thread for the whole process (openblas_set_num_threads(1))
// and detail::sgemm cuts large products into pieces that OpenMP threads run.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace kiln::cpu::detail {

// Puts OpenBLAS on the calling thread, once per process (idempotent, cheap after the first call).
void blas_single_threaded();

// Whether an OpenMP region started here would get more than one thread.
inline bool can_fork() { return omp_get_max_threads() > 1 && !omp_in_parallel(); }

// Runs body(i) for i in [0, count) on the calling thread and kiln's CPU worker threads
// (omp_get_max_threads() - 1 of them, started on first use), for the coarse loops of the heavy
// ops (convolution blocks, GEMM pieces). Unlike an OpenMP region there is no barrier on threads
// that never started: the caller takes items itself and only waits for items a worker has
// already taken. On a busy machine a woken worker can wait a whole scheduler time slice (ms) for
// a core; an OpenMP join waits for it, this loop does not (measured on a loaded 2-core machine:
// LeNet's training step 90 ms with OpenMP joins, ... with this). Which thread runs an item does
// not change any result. body must not throw. Nested calls (from inside body) run serially.
void parallel_for(int64_t count, void (*body)(void* context, int64_t i), void* context);

template <class F>
void parallel_for(int64_t count, F&& f) {
  using Fn = std::remove_reference_t<F>;
  parallel_for(count, [](void* ctx, int64_t i) { (*static_cast<Fn*>(ctx))(i); },
               const_cast<void*>(static_cast<const void*>(&f)));
}

// C (m, n) = alpha * op(A) op(B) + beta * C, row-major, single-threaded OpenBLAS underneath.
// Large products are cut into pieces along the longer of M and N; the pieces depend on the shape
// only (never on the thread count), and each C element is computed by one sgemm over the full K,
// so the result is the same bits for any thread count. Pieces run on OpenMP threads when called
// outside a parallel region, else in turn on the calling thread.
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc);

// f(lo, hi) over [0, count) in fixed slices of 2^15, on kiln's CPU workers (parallel_for) when
// count >= min_parallel, else in one call. Elementwise results do not depend on the slicing.
template <class F>
void for_slices(int64_t count, int64_t min_parallel, F&& f) {
  constexpr int64_t kSlice = int64_t{1} << 15;
  if (count < min_parallel || count <= kSlice) {
    f(int64_t{0}, count);
    return;
  }
  parallel_for((count + kSlice - 1) / kSlice,
               [&](int64_t sl) { f(sl * kSlice, std::min(count, (sl + 1) * kSlice)); });
}

// Per-thread scratch memory that persists across calls (no allocation, no page faults in steady
// state): slot 0..kScratchSlots-1, at least `count` floats, contents undefined. Valid until the
// same thread asks for the same slot again.
inline constexpr int kScratchSlots = 3;
float* scratch(int slot, size_t count);

// Elements per chunk of a deterministic reduction: partial sums are taken over these fixed
// chunks (never over "what each thread got"), then added in chunk order.
inline constexpr int64_t kReduceChunk = 1 << 14;

// sum_i f(i) for i in [0, count), double accumulation, independent of the thread count.
template <class F>
double deterministic_sum(int64_t count, F f) {
  const int64_t chunks = (count + kReduceChunk - 1) / kReduceChunk;
  if (chunks <= 1) {
    double s = 0.0;
    for (int64_t i = 0; i < count; ++i) s += f(i);
    return s;
  }
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * kReduceChunk, hi = lo + kReduceChunk < count ? lo + kReduceChunk : count;
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += f(i);
    partial[static_cast<size_t>(c)] = s;
  }
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

// Below this many elements an elementwise op runs on one thread (thread start-up costs more).
inline constexpr int64_t kParallelMin = 1 << 15;

}  // namespace kiln::cpu::detail
