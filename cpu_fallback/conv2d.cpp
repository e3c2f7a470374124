// CPU convolution: im2col + OpenBLAS SGEMM (Caffe's scheme), OpenMP over the batch.
//
// Per image n and group g (Kg = K/G, Cg = C/G, PQ = P*Q):
//   forward          Y[n,g] (Kg, PQ)   = W[g] (Kg, Cg*R*S) x col (Cg*R*S, PQ)        [+ bias]
//   backward_data    col (Cg*R*S, PQ)  = W[g]^T x dY[n,g];  dx[n,g] = col2im(col)
//   backward_filter  dW[g] (Kg, Cg*R*S) += dY[n,g] (Kg, PQ) x col^T
// A 1x1 convolution with stride 1 and no padding uses x (and dx) as the column matrix directly.
//
// Threading: with N >= 2 and more than one OpenMP thread, images are spread over threads, each
// with its own column buffer, and OpenBLAS is held to one thread (detail::BlasSingleThread).
// With one image (inference), or below kParallelFlops, images run in turn and OpenBLAS uses its
// threads.
#include "cpu_fallback/conv2d.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu_fallback/detail.h"

namespace kiln::cpu {
namespace {

// The q in [0, count) for which start + q*stride lies in [0, limit): [lo, hi).
inline void valid_range(int start, int stride, int limit, int count, int& lo, int& hi) {
  lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
  hi = start >= limit ? 0 : (limit - 1 - start) / stride + 1;
  lo = std::min(lo, count);
  hi = std::min(hi, count);
  if (hi < lo) hi = lo;
}

bool is_pointwise(const Conv2dShape& s) {
  return s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// col (Cg*R*S, P*Q) from x (Cg, H, W) of one image and group.
void im2col(const Conv2dShape& s, const float* x, float* col) {
  const int P = s.p(), Q = s.q(), Cg = s.c_per_group();
  const int64_t PQ = static_cast<int64_t>(P) * Q;
  for (int c = 0; c < Cg; ++c) {
    const float* xc = x + static_cast<int64_t>(c) * s.h * s.w;  // (H, W)
    for (int r = 0; r < s.r; ++r) {
      for (int t = 0; t < s.s; ++t) {
        float* dst = col + ((static_cast<int64_t>(c) * s.r + r) * s.s + t) * PQ;  // (P, Q)
        const int h_off = r * s.dilation_h - s.pad_h, w_off = t * s.dilation_w - s.pad_w;
        int q_lo, q_hi;
        valid_range(w_off, s.stride_w, s.w, Q, q_lo, q_hi);
        for (int p = 0; p < P; ++p) {
          float* d = dst + static_cast<int64_t>(p) * Q;
          const int ih = p * s.stride_h + h_off;
          if (ih < 0 || ih >= s.h) {
            std::memset(d, 0, sizeof(float) * Q);
            continue;
          }
          const float* src = xc + static_cast<int64_t>(ih) * s.w + w_off;
          for (int q = 0; q < q_lo; ++q) d[q] = 0.0f;
          if (s.stride_w == 1) {
            std::memcpy(d + q_lo, src + q_lo, sizeof(float) * (q_hi - q_lo));
          } else {
            for (int q = q_lo; q < q_hi; ++q) d[q] = src[static_cast<int64_t>(q) * s.stride_w];
          }
          for (int q = q_hi; q < Q; ++q) d[q] = 0.0f;
        }
      }
    }
  }
}

// dx (Cg, H, W) = col2im(col): dx must be zero on entry; taps add in a fixed order.
void col2im(const Conv2dShape& s, const float* col, float* dx) {
  const int P = s.p(), Q = s.q(), Cg = s.c_per_group();
  const int64_t PQ = static_cast<int64_t>(P) * Q;
  for (int c = 0; c < Cg; ++c) {
    float* dxc = dx + static_cast<int64_t>(c) * s.h * s.w;
    for (int r = 0; r < s.r; ++r) {
      for (int t = 0; t < s.s; ++t) {
        const float* src = col + ((static_cast<int64_t>(c) * s.r + r) * s.s + t) * PQ;
        const int h_off = r * s.dilation_h - s.pad_h, w_off = t * s.dilation_w - s.pad_w;
        int q_lo, q_hi;
        valid_range(w_off, s.stride_w, s.w, Q, q_lo, q_hi);
        for (int p = 0; p < P; ++p) {
          const int ih = p * s.stride_h + h_off;
          if (ih < 0 || ih >= s.h) continue;
          const float* sp = src + static_cast<int64_t>(p) * Q;
          float* d = dxc + static_cast<int64_t>(ih) * s.w + w_off;
          for (int q = q_lo; q < q_hi; ++q) d[static_cast<int64_t>(q) * s.stride_w] += sp[q];
        }
      }
    }
  }
}

// Below this many flops a convolution runs on the calling thread: an OpenMP region costs more
// than it saves, and on a loaded machine spinning threads make tiny ops very slow.
constexpr int64_t kParallelFlops = int64_t{1} << 21;

bool batch_parallel(const Conv2dShape& s) {
  return s.n >= 2 && detail::max_threads() > 1 && s.flops() >= kParallelFlops;
}

void forward_image(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                   float* col) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = static_cast<int64_t>(s.p()) * s.q(), CRS = s.crs(), HW = static_cast<int64_t>(s.h) * s.w;
  const bool pw = is_pointwise(s);
  for (int g = 0; g < G; ++g) {
    const float* xg = x + g * Cg * HW;            // (Cg, H, W)
    const float* wg = w + g * Kg * CRS;           // (Kg, Cg*R*S)
    float* yg = y + g * Kg * PQ;                  // (Kg, P*Q)
    const float* colg = xg;
    if (!pw) {
      im2col(s, xg, col);
      colg = col;
    }
    float beta = 0.0f;
    if (bias) {
      for (int k = 0; k < Kg; ++k) std::fill(yg + k * PQ, yg + (k + 1) * PQ, bias[g * Kg + k]);
      beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Kg, static_cast<int>(PQ), static_cast<int>(CRS),
                1.0f, wg, static_cast<int>(CRS), colg, static_cast<int>(PQ), beta, yg, static_cast<int>(PQ));
  }
}

void backward_data_image(const Conv2dShape& s, const float* dy, const float* w, float* dx, float* col) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = static_cast<int64_t>(s.p()) * s.q(), CRS = s.crs(), HW = static_cast<int64_t>(s.h) * s.w;
  const bool pw = is_pointwise(s);
  for (int g = 0; g < G; ++g) {
    const float* dyg = dy + g * Kg * PQ;  // (Kg, P*Q)
    const float* wg = w + g * Kg * CRS;   // (Kg, Cg*R*S)
    float* dxg = dx + g * Cg * HW;        // (Cg, H, W)
    float* colg = pw ? dxg : col;         // (Cg*R*S, P*Q)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(CRS), static_cast<int>(PQ), Kg, 1.0f,
                wg, static_cast<int>(CRS), dyg, static_cast<int>(PQ), 0.0f, colg, static_cast<int>(PQ));
    if (!pw) {
      std::fill(dxg, dxg + Cg * HW, 0.0f);
      col2im(s, col, dxg);
    }
  }
}

// dw (K, Cg*R*S) += contributions of one image.
void backward_filter_image(const Conv2dShape& s, const float* x, const float* dy, float* dw, float* col) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = static_cast<int64_t>(s.p()) * s.q(), CRS = s.crs(), HW = static_cast<int64_t>(s.h) * s.w;
  const bool pw = is_pointwise(s);
  for (int g = 0; g < G; ++g) {
    const float* xg = x + g * Cg * HW;
    const float* dyg = dy + g * Kg * PQ;
    float* dwg = dw + g * Kg * CRS;
    const float* colg = xg;
    if (!pw) {
      im2col(s, xg, col);
      colg = col;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Kg, static_cast<int>(CRS), static_cast<int>(PQ), 1.0f,
                dyg, static_cast<int>(PQ), colg, static_cast<int>(PQ), 1.0f, dwg, static_cast<int>(CRS));
  }
}

int64_t col_size(const Conv2dShape& s) {
  return is_pointwise(s) ? 0 : s.crs() * s.p() * s.q();
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                    const Stream&) {
  s.validate();
  const int64_t x_img = static_cast<int64_t>(s.c) * s.h * s.w;
  const int64_t y_img = static_cast<int64_t>(s.k) * s.p() * s.q();
  if (batch_parallel(s)) {
    detail::BlasSingleThread one;
#pragma omp parallel
    {
      std::vector<float> col(static_cast<size_t>(col_size(s)));
#pragma omp for schedule(dynamic, 1)
      for (int n = 0; n < s.n; ++n) forward_image(s, x + n * x_img, w, bias, y + n * y_img, col.data());
    }
  } else {
    std::vector<float> col(static_cast<size_t>(col_size(s)));
    for (int n = 0; n < s.n; ++n) forward_image(s, x + n * x_img, w, bias, y + n * y_img, col.data());
  }
}

void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx, const Stream&) {
  s.validate();
  const int64_t x_img = static_cast<int64_t>(s.c) * s.h * s.w;
  const int64_t y_img = static_cast<int64_t>(s.k) * s.p() * s.q();
  if (batch_parallel(s)) {
    detail::BlasSingleThread one;
#pragma omp parallel
    {
      std::vector<float> col(static_cast<size_t>(col_size(s)));
#pragma omp for schedule(dynamic, 1)
      for (int n = 0; n < s.n; ++n) backward_data_image(s, dy + n * y_img, w, dx + n * x_img, col.data());
    }
  } else {
    std::vector<float> col(static_cast<size_t>(col_size(s)));
    for (int n = 0; n < s.n; ++n) backward_data_image(s, dy + n * y_img, w, dx + n * x_img, col.data());
  }
}

void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Stream&) {
  s.validate();
  const int64_t x_img = static_cast<int64_t>(s.c) * s.h * s.w;
  const int64_t y_img = static_cast<int64_t>(s.k) * s.p() * s.q();
  const int64_t wsz = s.w_size();
  // The batch is cut into a fixed number of chunks (a function of N only), each summed into its
  // own partial buffer, then the partials are added to dw in chunk order: the same bits for any
  // thread count.
  constexpr int kMaxChunks = 8;
  const int chunks = std::min(s.n, kMaxChunks);
  if (chunks == 1) {
    std::vector<float> col(static_cast<size_t>(col_size(s)));
    for (int n = 0; n < s.n; ++n) backward_filter_image(s, x + n * x_img, dy + n * y_img, dw, col.data());
    return;
  }
  std::vector<float> partial(static_cast<size_t>(chunks * wsz), 0.0f);  // (chunks, K, Cg*R*S)
  {
    const bool parallel = batch_parallel(s);
    std::unique_ptr<detail::BlasSingleThread> one;
    if (parallel) one = std::make_unique<detail::BlasSingleThread>();
#pragma omp parallel if (parallel)
    {
      std::vector<float> col(static_cast<size_t>(col_size(s)));
#pragma omp for schedule(dynamic, 1)
      for (int j = 0; j < chunks; ++j) {
        const int lo = static_cast<int>(static_cast<int64_t>(s.n) * j / chunks);
        const int hi = static_cast<int>(static_cast<int64_t>(s.n) * (j + 1) / chunks);
        for (int n = lo; n < hi; ++n)
          backward_filter_image(s, x + n * x_img, dy + n * y_img, partial.data() + j * wsz, col.data());
      }
    }
  }
#pragma omp parallel for schedule(static) if (wsz >= detail::kParallelMin)
  for (int64_t i = 0; i < wsz; ++i) {
    float acc = partial[static_cast<size_t>(i)];
    for (int j = 1; j < chunks; ++j) acc += partial[static_cast<size_t>(j * wsz + i)];
    dw[i] += acc;
  }
}

void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db, const Stream&) {
  s.validate();
  const int64_t PQ = static_cast<int64_t>(s.p()) * s.q();
  const int64_t y_img = s.k * PQ;
#pragma omp parallel for schedule(static) if (s.y_size() >= detail::kParallelMin)
  for (int k = 0; k < s.k; ++k) {
    double acc = 0.0;
    for (int n = 0; n < s.n; ++n) {
      const float* d = dy + n * y_img + k * PQ;
      for (int64_t i = 0; i < PQ; ++i) acc += d[i];
    }
    db[k] += static_cast<float>(acc);
  }
}

}  // namespace kiln::cpu
