// CPU batch normalisation. Parallel over channels; each channel's sums are accumulated in double
// over its N rows of `inner` contiguous values (the reference the GPU's float block sums are
// compared with), and the elementwise passes run in float like the kernels.
#include "kernels/batchnorm.h"

#include <cmath>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {
namespace {

// The values of channel c: row r (image r) starts at x + (r * C + c) * inner.
template <class F>
void for_channel(const BatchNormShape& s, int c, F&& f) {
  for (int r = 0; r < s.n; ++r) f((static_cast<int64_t>(r) * s.c + c) * s.inner);
}

}  // namespace

void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* invstd, float* running_mean, float* running_var, const Stream&) {
  s.validate_training();
  KILN_CHECK((running_mean == nullptr) == (running_var == nullptr),
             "batchnorm: give both running statistics or neither");
  const auto count = static_cast<double>(s.count());
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
  for (int c = 0; c < s.c; ++c) {
    double sum = 0;
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) sum += x[at + i];
    });
    const double m = sum / count;
    double sq = 0;
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) sq += (x[at + i] - m) * (x[at + i] - m);
    });
    const double var = sq / count;
    const auto mf = static_cast<float>(m);
    const auto is = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(s.eps)));
    mean[c] = mf;
    invstd[c] = is;
    if (running_mean) {
      running_mean[c] = (1.0f - s.momentum) * running_mean[c] + s.momentum * mf;
      running_var[c] = (1.0f - s.momentum) * running_var[c] + s.momentum * static_cast<float>(var * count / (count - 1));
    }
    const float g = gamma ? gamma[c] * is : is, b = beta ? beta[c] : 0.0f;
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) y[at + i] = (x[at + i] - mf) * g + b;
    });
  }
}

void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, const Stream&) {
  s.validate();
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
  for (int c = 0; c < s.c; ++c) {
    const float is = 1.0f / std::sqrt(running_var[c] + s.eps);
    const float g = gamma ? gamma[c] * is : is, b = beta ? beta[c] : 0.0f, m = running_mean[c];
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) y[at + i] = (x[at + i] - m) * g + b;
    });
  }
}

void batchnorm_backward(const BatchNormShape& s, const float* x, const float* gamma, const float* mean,
                        const float* invstd, const float* dy, float* dx, float* dgamma, float* dbeta, const Stream&) {
  s.validate_training();
  const auto count = static_cast<float>(s.count());
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
  for (int c = 0; c < s.c; ++c) {
    const float m = mean[c], is = invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) {
        sum_dy += dy[at + i];
        sum_dy_xhat += dy[at + i] * ((x[at + i] - m) * is);
      }
    });
    if (dgamma) dgamma[c] += static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] += static_cast<float>(sum_dy);
    const float k = (gamma ? gamma[c] : 1.0f) * is / count;
    const auto a = static_cast<float>(sum_dy), b = static_cast<float>(sum_dy_xhat);
    for_channel(s, c, [&](int64_t at) {
      for (int64_t i = 0; i < s.inner; ++i) dx[at + i] = k * (count * dy[at + i] - a - (x[at + i] - m) * is * b);
    });
  }
}

}  // namespace kiln::cpu
