// Definitional reference loops for every op in cpu_fallback/ (and so, transitively, every GPU
// kernel): the formulas of kernels/shapes/*.h written as plainly as possible, templated on the
// accumulation type T (double in the tests). Slow on purpose; no blocking, no cleverness. Backward
// passes are written as scatters straight from the chain rule (the fast code gathers), so the two
// are derived independently.
//
// Gradient convention as in the ops: input gradients are written (=), parameter gradients
// accumulate (+=).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/philox.h"
#include "kernels/shapes/activation.h"
#include "kernels/shapes/bias.h"
#include "kernels/shapes/conv2d.h"
#include "kernels/shapes/dropout.h"
#include "kernels/shapes/gemm.h"
#include "kernels/shapes/lrn.h"
#include "kernels/shapes/optim.h"
#include "kernels/shapes/pool2d.h"
#include "kernels/shapes/softmax_xent.h"

namespace kiln::ref {

// ---- convolution ----------------------------------------------------------------------------

// Calls f(n, k, p, q, c, r, s, x_index, w_index, y_index) for every in-image tap of the conv.
template <class F>
void conv2d_for_each_tap(const Conv2dShape& sh, F f) {
  const int P = sh.p(), Q = sh.q(), Cg = sh.c_per_group(), Kg = sh.k_per_group();
  for (int n = 0; n < sh.n; ++n)
    for (int k = 0; k < sh.k; ++k) {
      const int g = k / Kg;
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q)
          for (int cl = 0; cl < Cg; ++cl)
            for (int r = 0; r < sh.r; ++r)
              for (int s = 0; s < sh.s; ++s) {
                const int ih = p * sh.stride_h - sh.pad_h + r * sh.dilation_h;
                const int iw = q * sh.stride_w - sh.pad_w + s * sh.dilation_w;
                if (ih < 0 || ih >= sh.h || iw < 0 || iw >= sh.w) continue;
                const int c = g * Cg + cl;
                const int64_t xi = ((static_cast<int64_t>(n) * sh.c + c) * sh.h + ih) * sh.w + iw;
                const int64_t wi = ((static_cast<int64_t>(k) * Cg + cl) * sh.r + r) * sh.s + s;
                const int64_t yi = ((static_cast<int64_t>(n) * sh.k + k) * P + p) * Q + q;
                f(xi, wi, yi);
              }
    }
}

// y (N, K, P, Q) = conv(x, w) + bias (bias may be null)
template <class T, class In>
void conv2d_forward(const Conv2dShape& sh, const In* x, const In* w, const In* bias, T* y) {
  const int64_t PQ = static_cast<int64_t>(sh.p()) * sh.q();
  for (int64_t i = 0; i < sh.y_size(); ++i) y[i] = bias ? T(bias[(i / PQ) % sh.k]) : T(0);
  conv2d_for_each_tap(sh, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += T(x[xi]) * T(w[wi]); });
}

// dx (N, C, H, W) = d(sum dy*y)/dx   (written)
template <class T, class In>
void conv2d_backward_data(const Conv2dShape& sh, const In* dy, const In* w, T* dx) {
  std::fill(dx, dx + sh.x_size(), T(0));
  conv2d_for_each_tap(sh, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += T(dy[yi]) * T(w[wi]); });
}

// dw (K, C/G, R, S) += d(sum dy*y)/dw
template <class T, class In>
void conv2d_backward_filter(const Conv2dShape& sh, const In* x, const In* dy, T* dw) {
  conv2d_for_each_tap(sh, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += T(dy[yi]) * T(x[xi]); });
}

// db (K) += sum over n, p, q of dy
template <class T, class In>
void conv2d_backward_bias(const Conv2dShape& sh, const In* dy, T* db) {
  const int64_t PQ = static_cast<int64_t>(sh.p()) * sh.q();
  for (int64_t i = 0; i < sh.y_size(); ++i) db[(i / PQ) % sh.k] += T(dy[i]);
}

// ---- pooling ----------------------------------------------------------------------------------

// y and argmax (index within the plane) of max pooling; -inf padding, first maximum wins.
template <class T, class In>
void maxpool2d_forward(const Pool2dShape& sh, const In* x, T* y, int32_t* argmax) {
  const int P = sh.p(), Q = sh.q();
  for (int64_t pl = 0; pl < static_cast<int64_t>(sh.n) * sh.c; ++pl)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        T best = -std::numeric_limits<T>::infinity();
        int32_t bi = -1;
        for (int i = 0; i < sh.kernel_h; ++i)
          for (int j = 0; j < sh.kernel_w; ++j) {
            const int ih = p * sh.stride_h - sh.pad_h + i, iw = q * sh.stride_w - sh.pad_w + j;
            if (ih < 0 || ih >= sh.h || iw < 0 || iw >= sh.w) continue;
            const T v = T(x[pl * sh.h * sh.w + ih * sh.w + iw]);
            if (bi < 0 || v > best) {
              best = v;
              bi = ih * sh.w + iw;
            }
          }
        y[(pl * P + p) * Q + q] = best;
        argmax[(pl * P + p) * Q + q] = bi;
      }
}

// dx = scatter of dy to argmax (written)
template <class T, class In>
void maxpool2d_backward(const Pool2dShape& sh, const In* dy, const int32_t* argmax, T* dx) {
  std::fill(dx, dx + sh.x_size(), T(0));
  const int64_t PQ = static_cast<int64_t>(sh.p()) * sh.q();
  for (int64_t i = 0; i < sh.y_size(); ++i) dx[(i / PQ) * sh.h * sh.w + argmax[i]] += T(dy[i]);
}

// Window cells of (p, q): in the padded input (count_include_pad) or in the input.
inline int avg_count(const Pool2dShape& sh, int p, int q) {
  int cnt = 0;
  for (int i = 0; i < sh.kernel_h; ++i)
    for (int j = 0; j < sh.kernel_w; ++j) {
      const int ih = p * sh.stride_h - sh.pad_h + i, iw = q * sh.stride_w - sh.pad_w + j;
      const bool in_padded = ih < sh.h + sh.pad_h && iw < sh.w + sh.pad_w;  // ih >= -pad always
      const bool in_input = ih >= 0 && ih < sh.h && iw >= 0 && iw < sh.w;
      cnt += sh.count_include_pad ? in_padded : in_input;
    }
  return cnt;
}

template <class T, class In>
void avgpool2d_forward(const Pool2dShape& sh, const In* x, T* y) {
  const int P = sh.p(), Q = sh.q();
  for (int64_t pl = 0; pl < static_cast<int64_t>(sh.n) * sh.c; ++pl)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        T acc = 0;
        for (int i = 0; i < sh.kernel_h; ++i)
          for (int j = 0; j < sh.kernel_w; ++j) {
            const int ih = p * sh.stride_h - sh.pad_h + i, iw = q * sh.stride_w - sh.pad_w + j;
            if (ih < 0 || ih >= sh.h || iw < 0 || iw >= sh.w) continue;
            acc += T(x[pl * sh.h * sh.w + ih * sh.w + iw]);
          }
        y[(pl * P + p) * Q + q] = acc / T(avg_count(sh, p, q));
      }
}

template <class T, class In>
void avgpool2d_backward(const Pool2dShape& sh, const In* dy, T* dx) {
  std::fill(dx, dx + sh.x_size(), T(0));
  const int P = sh.p(), Q = sh.q();
  for (int64_t pl = 0; pl < static_cast<int64_t>(sh.n) * sh.c; ++pl)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        const T g = T(dy[(pl * P + p) * Q + q]) / T(avg_count(sh, p, q));
        for (int i = 0; i < sh.kernel_h; ++i)
          for (int j = 0; j < sh.kernel_w; ++j) {
            const int ih = p * sh.stride_h - sh.pad_h + i, iw = q * sh.stride_w - sh.pad_w + j;
            if (ih < 0 || ih >= sh.h || iw < 0 || iw >= sh.w) continue;
            dx[pl * sh.h * sh.w + ih * sh.w + iw] += g;
          }
      }
}

// ---- softmax cross-entropy -------------------------------------------------------------------

// Returns the mean loss; row_loss (N) gets each row's loss (0 if ignored).
template <class T, class In>
T softmax_xent_forward(const SoftmaxXentShape& sh, const In* logits, const int32_t* labels, T* row_loss) {
  T total = 0;
  int64_t count = 0;
  for (int i = 0; i < sh.n; ++i) {
    row_loss[i] = 0;
    if (labels[i] == sh.ignore_label) continue;
    const In* x = logits + static_cast<int64_t>(i) * sh.c;
    T m = T(x[0]);
    for (int j = 0; j < sh.c; ++j) m = std::max(m, T(x[j]));
    T s = 0;
    for (int j = 0; j < sh.c; ++j) s += std::exp(T(x[j]) - m);
    row_loss[i] = m + std::log(s) - T(x[labels[i]]);
    total += row_loss[i];
    ++count;
  }
  return count ? total / T(count) : T(0);
}

template <class T, class In>
void softmax_xent_backward(const SoftmaxXentShape& sh, const In* logits, const int32_t* labels, T dloss, T* dlogits) {
  int64_t count = 0;
  for (int i = 0; i < sh.n; ++i) count += labels[i] != sh.ignore_label;
  for (int i = 0; i < sh.n; ++i) {
    const In* x = logits + static_cast<int64_t>(i) * sh.c;
    T* d = dlogits + static_cast<int64_t>(i) * sh.c;
    if (labels[i] == sh.ignore_label) {
      std::fill(d, d + sh.c, T(0));
      continue;
    }
    T m = T(x[0]);
    for (int j = 0; j < sh.c; ++j) m = std::max(m, T(x[j]));
    T s = 0;
    for (int j = 0; j < sh.c; ++j) s += std::exp(T(x[j]) - m);
    for (int j = 0; j < sh.c; ++j)
      d[j] = (std::exp(T(x[j]) - m) / s - T(j == labels[i])) * dloss / T(count);
  }
}

// ---- gemm, bias ----------------------------------------------------------------------------

template <class T, class In>
void gemm(const GemmShape& sh, const In* a, const In* b, T* c) {
  for (int i = 0; i < sh.m; ++i)
    for (int j = 0; j < sh.n; ++j) {
      T acc = 0;
      for (int l = 0; l < sh.k; ++l) {
        const T av = T(sh.trans_a ? a[static_cast<int64_t>(l) * sh.m + i] : a[static_cast<int64_t>(i) * sh.k + l]);
        const T bv = T(sh.trans_b ? b[static_cast<int64_t>(j) * sh.k + l] : b[static_cast<int64_t>(l) * sh.n + j]);
        acc += av * bv;
      }
      T& out = c[static_cast<int64_t>(i) * sh.n + j];
      out = T(sh.alpha) * acc + (sh.beta != 0.0f ? T(sh.beta) * out : T(0));
    }
}

template <class T, class In>
void bias_add(const BiasShape& sh, const In* bias, T* y) {
  for (int64_t i = 0; i < sh.size(); ++i) y[i] += T(bias[(i / sh.inner) % sh.c]);
}

template <class T, class In>
void bias_backward(const BiasShape& sh, const In* dy, T* db) {
  for (int64_t i = 0; i < sh.size(); ++i) db[(i / sh.inner) % sh.c] += T(dy[i]);
}

// ---- activations: derivative written in terms of x (the fast code uses y) -------------------

template <class T>
T activation(Activation a, T param, T x) {
  switch (a) {
    case Activation::Relu: return x > 0 ? x : T(0);
    case Activation::LeakyRelu: return x > 0 ? x : param * x;
    case Activation::Elu: return x > 0 ? x : param * (std::exp(x) - T(1));
    case Activation::Sigmoid: return T(1) / (T(1) + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
  }
  return x;
}

template <class T>
T activation_derivative(Activation a, T param, T x) {
  switch (a) {
    case Activation::Relu: return x > 0 ? T(1) : T(0);
    case Activation::LeakyRelu: return x > 0 ? T(1) : param;
    case Activation::Elu: return x > 0 ? T(1) : param * std::exp(x);
    case Activation::Sigmoid: {
      const T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) - s);
    }
    case Activation::Tanh: {
      const T t = std::tanh(x);
      return T(1) - t * t;
    }
  }
  return T(1);
}

// ---- LRN --------------------------------------------------------------------------------------

template <class T>
T lrn_scale(const LrnShape& sh, const T* x_column, int c) {  // x_column[c'] = x[n, c', h, w]
  T sq = 0;
  for (int j = c - sh.size / 2; j <= c + (sh.size - 1) / 2; ++j)
    if (j >= 0 && j < sh.c) sq += x_column[j] * x_column[j];
  return T(sh.k) + T(sh.alpha) / T(sh.size) * sq;
}

// y = x * scale^-beta, column by column (a column is one (n, h, w) across channels).
template <class T, class In>
void lrn_forward(const LrnShape& sh, const In* x, T* y) {
  std::vector<T> col(static_cast<size_t>(sh.c));
  for (int n = 0; n < sh.n; ++n)
    for (int64_t hw = 0; hw < sh.plane(); ++hw) {
      for (int c = 0; c < sh.c; ++c) col[c] = T(x[(static_cast<int64_t>(n) * sh.c + c) * sh.plane() + hw]);
      for (int c = 0; c < sh.c; ++c)
        y[(static_cast<int64_t>(n) * sh.c + c) * sh.plane() + hw] =
            col[c] * std::pow(lrn_scale(sh, col.data(), c), -T(sh.beta));
    }
}

// dx_i = sum_j dy_j dy_j/dx_i from the Jacobian of y_j = x_j * s_j^-beta (written).
template <class T, class In>
void lrn_backward(const LrnShape& sh, const In* x, const In* dy, T* dx) {
  std::vector<T> col(static_cast<size_t>(sh.c)), g(static_cast<size_t>(sh.c));
  for (int n = 0; n < sh.n; ++n)
    for (int64_t hw = 0; hw < sh.plane(); ++hw) {
      auto at = [&](int c) { return (static_cast<int64_t>(n) * sh.c + c) * sh.plane() + hw; };
      for (int c = 0; c < sh.c; ++c) {
        col[c] = T(x[at(c)]);
        g[c] = 0;
      }
      for (int j = 0; j < sh.c; ++j) {
        const T sj = lrn_scale(sh, col.data(), j);
        const T dyj = T(dy[at(j)]);
        g[j] += dyj * std::pow(sj, -T(sh.beta));  // d y_j / d x_j through the x_j factor
        for (int i = j - sh.size / 2; i <= j + (sh.size - 1) / 2; ++i) {
          if (i < 0 || i >= sh.c) continue;
          // d s_j / d x_i = 2 alpha/size x_i;  d y_j / d s_j = -beta x_j s_j^(-beta-1)
          g[i] += dyj * col[j] * (-T(sh.beta)) * std::pow(sj, -T(sh.beta) - 1) * T(2) * T(sh.alpha) /
                  T(sh.size) * col[i];
        }
      }
      for (int c = 0; c < sh.c; ++c) dx[at(c)] = g[c];
    }
}

// ---- dropout ----------------------------------------------------------------------------------

// The mask rule, restated: keep element i iff the Philox word of global index first + i is
// >= floor(p * 2^32).
inline bool dropout_kept(const DropoutShape& sh, int64_t i) {
  const uint64_t threshold = static_cast<uint64_t>(std::floor(static_cast<double>(sh.p) * 4294967296.0));
  return static_cast<uint64_t>(philox_u32(sh.seed, sh.offset, sh.first + static_cast<uint64_t>(i))) >= threshold;
}

// ---- optimisers (PyTorch's formulas in double) ------------------------------------------------

template <class T>
void sgd_step(const SgdShape& sh, T& param, T grad, T& buf) {
  T g = grad + T(sh.weight_decay) * param;
  if (sh.momentum != 0.0f) {
    buf = sh.step == 1 ? g : T(sh.momentum) * buf + (T(1) - T(sh.dampening)) * g;
    g = sh.nesterov ? g + T(sh.momentum) * buf : buf;
  }
  param -= T(sh.lr) * g;
}

template <class T>
void adam_step(const AdamShape& sh, T& param, T grad, T& m, T& v) {
  T g = grad;
  if (sh.decoupled)
    param *= T(1) - T(sh.lr) * T(sh.weight_decay);
  else
    g += T(sh.weight_decay) * param;
  m = T(sh.beta1) * m + (T(1) - T(sh.beta1)) * g;
  v = T(sh.beta2) * v + (T(1) - T(sh.beta2)) * g * g;
  const T bc1 = T(1) - std::pow(T(sh.beta1), T(sh.step));
  const T bc2 = T(1) - std::pow(T(sh.beta2), T(sh.step));
  const T mhat = m / bc1, vhat = v / bc2;
  // PyTorch: param -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), i.e. eps is added to sqrt(vhat).
  param -= T(sh.lr) * mhat / (std::sqrt(vhat) + T(sh.eps));
}

// ---- 16-bit rounding (kernels/shapes/convert.h) -------------------------------------------------
// x rounded to a binary format with `mantissa` stored bits and normal exponents down to `emin`,
// to nearest with ties to even, by arithmetic in double: the spacing of representable numbers
// around x is 2^(max(floor(log2|x|), emin) - mantissa), and nearbyint (default rounding mode)
// rounds x / spacing to the nearest even integer. Values that round to 2^(emax+1) or beyond are
// ±inf. NaN is returned as NaN.
inline double round_to_format(double x, int mantissa, int emin, int emax) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  const int e = std::max(static_cast<int>(std::floor(std::log2(std::fabs(x)))), emin);
  const double spacing = std::ldexp(1.0, e - mantissa);
  const double r = std::nearbyint(x / spacing) * spacing;
  if (std::fabs(r) >= std::ldexp(1.0, emax + 1)) return std::copysign(HUGE_VAL, x);
  return r == 0 ? std::copysign(0.0, x) : r;
}
inline double round_to_bf16(double x) { return round_to_format(x, 7, -126, 127); }
inline double round_to_f16(double x) { return round_to_format(x, 10, -14, 15); }

}  // namespace kiln::ref
