// CPU GEMM, bias, activations, dropout and optimiser updates: elementwise loops (and cblas).
#include <algorithm>

#include "cpu_fallback/activation.h"
#include "cpu_fallback/bias.h"
#include "cpu_fallback/detail.h"
#include "cpu_fallback/dropout.h"
#include "cpu_fallback/gemm.h"
#include "cpu_fallback/optim.h"

namespace kiln::cpu {

namespace {
// f(lo, hi) over [0, count) in fixed slices, on kiln's CPU workers (detail::parallel_for) when
// count >= min_parallel. Elementwise results do not depend on the slicing.
template <class F>
void for_slices(int64_t count, int64_t min_parallel, F&& f) {
  constexpr int64_t kSlice = int64_t{1} << 15;
  if (count < min_parallel || count <= kSlice) {
    f(int64_t{0}, count);
    return;
  }
  detail::parallel_for((count + kSlice - 1) / kSlice,
                       [&](int64_t sl) { f(sl * kSlice, std::min(count, (sl + 1) * kSlice)); });
}
}  // namespace

void gemm(const GemmShape& s, const float* a, const float* b, float* c, const Stream&) {
  s.validate();
  detail::sgemm(s.trans_a, s.trans_b, s.m, s.n, s.k, s.alpha, a, s.lda(), b, s.ldb(), s.beta, c, s.ldc());
}

void bias_add(const BiasShape& s, const float* bias, float* y, const Stream&) {
  s.validate();
  const int64_t rows = static_cast<int64_t>(s.n) * s.c;
  if (s.inner == 1) {  // (N, C) rows, Linear: no modulo per element
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
    for (int n = 0; n < s.n; ++n) {
      float* yr = y + static_cast<int64_t>(n) * s.c;
      for (int c = 0; c < s.c; ++c) yr[c] += bias[c];
    }
    return;
  }
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const float b = bias[row % s.c];
    float* yr = y + row * s.inner;
    for (int64_t i = 0; i < s.inner; ++i) yr[i] += b;
  }
}

void bias_backward(const BiasShape& s, const float* dy, float* db, const Stream&) {
  s.validate();
  // One channel per iteration, summed over (n, i) in a fixed order: no races, same bits for any
  // thread count.
#pragma omp parallel for schedule(static) if (s.size() >= detail::kParallelMin)
  for (int c = 0; c < s.c; ++c) {
    double acc = 0.0;
    for (int n = 0; n < s.n; ++n) {
      const float* d = dy + (static_cast<int64_t>(n) * s.c + c) * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) acc += d[i];
    }
    db[c] += static_cast<float>(acc);
  }
}

void activation_forward(const ActivationShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const Activation kind = s.kind;
  const float param = s.param;
  for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = activation_apply(kind, param, x[i]);
  });
}

void activation_backward(const ActivationShape& s, const float* y, const float* dy, float* dx, const Stream&) {
  s.validate();
  const Activation kind = s.kind;
  const float param = s.param;
  for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * activation_grad_from_y(kind, param, y[i]);
  });
}

void dropout_forward(const DropoutShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const uint32_t threshold = s.threshold();
  const float scale = s.scale();
  for_slices(s.count, detail::kParallelMin / 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      y[i] = dropout_keep(s.seed, s.offset, static_cast<uint64_t>(i), threshold) ? x[i] * scale : 0.0f;
  });
}

void dropout_backward(const DropoutShape& s, const float* dy, float* dx, const Stream&) {
  s.validate();
  const uint32_t threshold = s.threshold();
  const float scale = s.scale();
  for_slices(s.count, detail::kParallelMin / 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      dx[i] = dropout_keep(s.seed, s.offset, static_cast<uint64_t>(i), threshold) ? dy[i] * scale : 0.0f;
  });
}

void dropout_mask(const DropoutShape& s, uint8_t* mask, const Stream&) {
  s.validate();
  const uint32_t threshold = s.threshold();
  for_slices(s.count, detail::kParallelMin / 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      mask[i] = dropout_keep(s.seed, s.offset, static_cast<uint64_t>(i), threshold) ? 1 : 0;
  });
}

void sgd_update(const SgdShape& s, float* param, const float* grad, float* momentum_buf, const Stream&) {
  s.validate();
  KILN_CHECK(s.momentum == 0.0f || momentum_buf != nullptr, "sgd: momentum={} needs a momentum buffer",
             s.momentum);
  for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float unused = 0.0f;
      sgd_element(s, param[i], grad[i], momentum_buf ? momentum_buf[i] : unused);
    }
  });
}

void adam_update(const AdamShape& s, float* param, const float* grad, float* m, float* v, const Stream&) {
  s.validate();
  const float step_size = s.step_size(), bias2_sqrt = s.bias2_sqrt();
  for_slices(s.count, detail::kParallelMin, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) adam_element(s, step_size, bias2_sqrt, param[i], grad[i], m[i], v[i]);
  });
}

}  // namespace kiln::cpu
