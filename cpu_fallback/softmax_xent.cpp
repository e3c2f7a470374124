// CPU fused softmax cross-entropy, one row at a time (parallel over rows), the row's max
// subtracted before exp and the sum of exponentials accumulated in double.
#include "cpu_fallback/softmax_xent.h"

#include <cmath>
#include <vector>

#include "cpu_fallback/detail.h"

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

RowStats row_stats(const float* x, int c) {
  float m = x[0];
  for (int j = 1; j < c; ++j) m = x[j] > m ? x[j] : m;
  double sum = 0.0;
  for (int j = 0; j < c; ++j) sum += std::exp(static_cast<double>(x[j] - m));
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
    const RowStats st = row_stats(x, s.c);
    const double inv = 1.0 / st.sum;
    for (int j = 0; j < s.c; ++j) {
      const double pj = std::exp(static_cast<double>(x[j] - st.max)) * inv;
      d[j] = static_cast<float>((pj - (j == l ? 1.0 : 0.0)) * scale);
    }
  }
}

}  // namespace kiln::cpu
