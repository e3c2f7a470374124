// Internal helpers of cpu_fallback/ (not part of the API): OpenBLAS threading control and
// deterministic chunked reductions.
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::cpu::detail {

// Debian's libopenblas0-pthread runs its own thread pool and does not notice OpenMP: calling a
// multithreaded sgemm from several OpenMP threads oversubscribes the cores (and serialises on
// its lock). While one of these guards lives, OpenBLAS runs on the calling thread only; the
// previous setting is restored afterwards. Create it outside the parallel region.
class BlasSingleThread {
 public:
  BlasSingleThread();
  ~BlasSingleThread();
  BlasSingleThread(const BlasSingleThread&) = delete;
  BlasSingleThread& operator=(const BlasSingleThread&) = delete;

 private:
  int previous_;
};

inline int max_threads() { return omp_get_max_threads(); }

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
