// CPU fused softmax cross-entropy, one row at a time (parallel over rows), the row's max
// subtracted before exp and the sum of exponentials accumulated in double; backward computes each
// exponential once.
#include "kernels/softmax_xent.h"

#include <cmath>
#include <vector>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {
namespace {

// Throws (outside any parallel region) if a label is neither in [0, C) nor ignore_label;
// returns the number of counted rows.
int64_t check_labels(const SoftmaxXentShape& s, const int32_t* labels) {
  int64_t count = 0;
  for (int i = 0; i < s.n; ++i) {
    const int32_t l = labels[i];
    if (l == s.ignore_label) continue;
    KILN_CHECK(l >= 0 && l < s.c, "softmax_xent: label {} of row {} is outside [0, {}) and is not ignore_label={}",
               l, i, s.c, s.ignore_label);
    ++count;
  }
  return count;
}

struct RowStats {
  float max;
  double sum;  // sum_j exp(x_j - max)
};

float row_max(const float* x, int c) {
  float m = x[0];
  for (int j = 1; j < c; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// exp in float (as the GPU kernels; glibc's expf is correctly rounded in practice and several
// times faster than exp), summed in double. `e`, if given, receives the exponentials.
RowStats row_stats(const float* x, int c, float* e = nullptr) {
  const float m = row_max(x, c);
  double sum = 0.0;
  for (int j = 0; j < c; ++j) {
    const float v = std::exp(x[j] - m);
    if (e) e[j] = v;
    sum += v;
  }
  return {m, sum};
}

}  // namespace

void softmax_xent_forward(const SoftmaxXentShape& s, const float* logits, const int32_t* labels, float* row_loss,
                          float* mean_loss, const Stream&) {
  s.validate();
  const int64_t count = check_labels(s, labels);
  double total = 0.0;
  // Row losses are summed in row order after the parallel loop (deterministic).
  std::vector<double> loss(static_cast<size_t>(s.n));
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int i = 0; i < s.n; ++i) {
    const float* x = logits + static_cast<int64_t>(i) * s.c;  // (C)
    const int32_t l = labels[i];
    double li = 0.0;
    if (l != s.ignore_label) {
      const RowStats st = row_stats(x, s.c);
      li = std::log(st.sum) + (static_cast<double>(st.max) - static_cast<double>(x[l]));
    }
    loss[static_cast<size_t>(i)] = li;
  }
  for (int i = 0; i < s.n; ++i) {
    total += loss[static_cast<size_t>(i)];
    if (row_loss) row_loss[i] = static_cast<float>(loss[static_cast<size_t>(i)]);
  }
  *mean_loss = count > 0 ? static_cast<float>(total / static_cast<double>(count)) : 0.0f;
}

void softmax_xent_backward(const SoftmaxXentShape& s, const float* logits, const int32_t* labels, float dloss,
                           float* dlogits, const Stream&) {
  s.validate();
  const int64_t count = check_labels(s, labels);
  const double scale = count > 0 ? static_cast<double>(dloss) / static_cast<double>(count) : 0.0;
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int i = 0; i < s.n; ++i) {
    const float* x = logits + static_cast<int64_t>(i) * s.c;  // (C)
    float* d = dlogits + static_cast<int64_t>(i) * s.c;       // (C)
    const int32_t l = labels[i];
    if (l == s.ignore_label) {
      for (int j = 0; j < s.c; ++j) d[j] = 0.0f;
      continue;
    }
    // One exp per element: the exponentials go to d, then are scaled in place.
    const RowStats st = row_stats(x, s.c, d);
    const double k = scale / st.sum;
    const double e_label = d[l];
    for (int j = 0; j < s.c; ++j) d[j] = static_cast<float>(d[j] * k);
    d[l] = static_cast<float>(e_label * k - scale);
  }
}

}  // namespace kiln::cpu
