// CPU embedding: forward is a row copy per token; backward sums each table row's dy rows from 0
// in token order, then adds the sum to dweight once: the GPU owner scan's order, so the two agree
// bit for bit. Sequential over tokens: rows repeat, and the work is O(n * D). An id outside [0, V)
// is treated as on the GPU (kernels/shapes/embedding.h): a NaN row forward, no gradient backward.
#include "kernels/embedding.h"

#include <cstring>
#include <limits>
#include <vector>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {
namespace {
bool in_table(const EmbeddingShape& s, int32_t id) { return id >= 0 && id < s.v; }
}  // namespace

void embedding_forward(const EmbeddingShape& s, const int32_t* ids, const float* weight, float* y, const Stream&) {
  s.validate();
  const size_t row_bytes = static_cast<size_t>(s.d) * sizeof(float);
#pragma omp parallel for schedule(static) if (s.out_size() >= detail::kParallelMin)
  for (int64_t i = 0; i < s.n; ++i) {
    float* out = y + i * s.d;
    if (in_table(s, ids[i])) {
      std::memcpy(out, weight + static_cast<int64_t>(ids[i]) * s.d, row_bytes);
    } else {
      for (int k = 0; k < s.d; ++k) out[k] = std::numeric_limits<float>::quiet_NaN();
    }
  }
}

void embedding_backward(const EmbeddingShape& s, const int32_t* ids, const float* dy, float* dweight,
                        const Stream&) {
  s.validate();
  // Per-row sums from 0 first, then one add into dweight: the GPU's order exactly.
  std::vector<float> acc(static_cast<size_t>(s.table_size()), 0.0f);
  std::vector<char> used(static_cast<size_t>(s.v), 0);
  for (int64_t i = 0; i < s.n; ++i) {
    if (!in_table(s, ids[i])) continue;
    float* a = acc.data() + static_cast<int64_t>(ids[i]) * s.d;
    used[static_cast<size_t>(ids[i])] = 1;
    const float* g = dy + i * s.d;
    for (int k = 0; k < s.d; ++k) a[k] += g[k];
  }
#pragma omp parallel for schedule(static) if (s.table_size() >= detail::kParallelMin)
  for (int v = 0; v < s.v; ++v) {
    if (!used[static_cast<size_t>(v)]) continue;
    float* w = dweight + static_cast<int64_t>(v) * s.d;
    const float* a = acc.data() + static_cast<int64_t>(v) * s.d;
    for (int k = 0; k < s.d; ++k) w[k] += a[k];
  }
}

}  // namespace kiln::cpu
