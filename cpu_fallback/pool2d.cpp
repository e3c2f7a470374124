// CPU max and average pooling, parallel over (n, c) planes. Backward passes gather over the
// windows that cover each input element (Pool2dShape::p_begin/p_end), so each dx element is
// written once, in a fixed order.
#include "kernels/pool2d.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

namespace {
// Windows that tile the input without overlap or padding (LeNet's 2x2 stride 2): every input
// element lies in at most one window.
bool disjoint_windows(const Pool2dShape& s) {
  return s.pad_h == 0 && s.pad_w == 0 && s.stride_h == s.kernel_h && s.stride_w == s.kernel_w;
}

// Below this many input elements a pooling op runs on the calling thread (a fork/join costs more,
// and on a loaded machine much more).
constexpr int64_t kPoolParallelMin = int64_t{1} << 20;

// Max over a 2x2 window at rows r0, r1 (input row ih0), with the generic loop's rules: the first
// maximum in scan order, and a NaN wins (the first NaN). The common no-NaN case has no
// data-dependent branches (on random data a branch per compare mispredicts half the time).
inline void max2x2(const float* r0, const float* r1, int w, int ih0, float& best, int32_t& best_i) {
  const float a = r0[0], b = r0[1], c = r1[0], d = r1[1];
  const int32_t i = ih0 * w;
  if (__builtin_expect((a != a) | (b != b) | (c != c) | (d != d), 0)) {
    best = a != a ? a : b != b ? b : c != c ? c : d;
    best_i = a != a ? i : b != b ? i + 1 : c != c ? i + w : i + w + 1;
    return;
  }
  float m = a;
  int32_t mi = i;
  bool t = b > m;
  m = t ? b : m;
  mi = t ? i + 1 : mi;
  t = c > m;
  m = t ? c : m;
  mi = t ? i + w : mi;
  t = d > m;
  m = t ? d : m;
  mi = t ? i + w + 1 : mi;
  best = m;
  best_i = mi;
}
}  // namespace

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, const Stream&) {
  s.validate();
  const int P = s.p(), Q = s.q();
  const int64_t planes = static_cast<int64_t>(s.n) * s.c, HW = static_cast<int64_t>(s.h) * s.w,
                PQ = static_cast<int64_t>(P) * Q;
  if (s.kernel_h == 2 && s.kernel_w == 2 && disjoint_windows(s)) {
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
    for (int64_t pl = 0; pl < planes; ++pl) {
      const float* xp = x + pl * HW;
      float* yp = y + pl * PQ;
      int32_t* ap = argmax ? argmax + pl * PQ : nullptr;
      for (int op = 0; op < P; ++op) {
        const float* r0 = xp + static_cast<int64_t>(2 * op) * s.w;
        const float* r1 = r0 + s.w;
        int oq = 0;
#if defined(__SSE2__)
        // Four windows at a time: even/odd columns split with shuffles, compares as masks.
        const __m128i row_i = _mm_set1_epi32(2 * op * s.w), w_i = _mm_set1_epi32(s.w), one = _mm_set1_epi32(1);
        for (; oq + 4 <= Q && 2 * oq + 8 <= s.w; oq += 4) {
          const __m128 u0 = _mm_loadu_ps(r0 + 2 * oq), u1 = _mm_loadu_ps(r0 + 2 * oq + 4);
          const __m128 l0 = _mm_loadu_ps(r1 + 2 * oq), l1 = _mm_loadu_ps(r1 + 2 * oq + 4);
          const __m128 a = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
          const __m128 c = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1));
          const __m128 nan = _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
          if (_mm_movemask_ps(nan) != 0) break;  // the scalar loop below handles NaNs
          const __m128i ia = _mm_add_epi32(row_i, _mm_add_epi32(_mm_set1_epi32(2 * oq), _mm_set_epi32(6, 4, 2, 0)));
          __m128 m = a;
          __m128i mi = ia;
          auto take = [&](__m128 v, __m128i iv) {
            const __m128 t = _mm_cmpgt_ps(v, m);  // v > m: later equal values do not replace
            m = _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, m));
            const __m128i ti = _mm_castps_si128(t);
            mi = _mm_or_si128(_mm_and_si128(ti, iv), _mm_andnot_si128(ti, mi));
          };
          take(b, _mm_add_epi32(ia, one));
          take(c, _mm_add_epi32(ia, w_i));
          take(d, _mm_add_epi32(_mm_add_epi32(ia, w_i), one));
          _mm_storeu_ps(yp + op * Q + oq, m);
          if (ap) _mm_storeu_si128(reinterpret_cast<__m128i*>(ap + op * Q + oq), mi);
        }
#endif
        for (; oq < Q; ++oq) {
          float b;
          int32_t bi;
          max2x2(r0 + 2 * oq, r1 + 2 * oq, s.w, 2 * op, b, bi);
          yp[op * Q + oq] = b;
          if (ap) ap[op * Q + oq] = bi + 2 * oq;
        }
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * HW;  // (H, W)
    float* yp = y + pl * PQ;        // (P, Q)
    int32_t* ap = argmax ? argmax + pl * PQ : nullptr;
    for (int op = 0; op < P; ++op) {
      const int h0 = std::max(op * s.stride_h - s.pad_h, 0);
      const int h1 = std::min(op * s.stride_h - s.pad_h + s.kernel_h, s.h);
      for (int oq = 0; oq < Q; ++oq) {
        const int w0 = std::max(oq * s.stride_w - s.pad_w, 0);
        const int w1 = std::min(oq * s.stride_w - s.pad_w + s.kernel_w, s.w);
        float best = -std::numeric_limits<float>::infinity();
        int32_t best_i = h0 * s.w + w0;
        for (int ih = h0; ih < h1; ++ih) {
          for (int iw = w0; iw < w1; ++iw) {
            const float v = xp[ih * s.w + iw];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = ih * s.w + iw;
              if (std::isnan(v)) goto done;
            }
          }
        }
      done:
        yp[op * Q + oq] = best;
        if (ap) ap[op * Q + oq] = best_i;
      }
    }
  }
}

void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx, const Stream&) {
  s.validate();
  const int P = s.p(), Q = s.q();
  const int64_t planes = static_cast<int64_t>(s.n) * s.c, HW = static_cast<int64_t>(s.h) * s.w,
                PQ = static_cast<int64_t>(P) * Q;
  if (disjoint_windows(s)) {
    // Each input is in at most one window: zero dx, then put each dy at its window's argmax
    // (0.0f + dy, the same bits as the gather's one-term sum).
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
    for (int64_t pl = 0; pl < planes; ++pl) {
      const float* dyp = dy + pl * PQ;
      const int32_t* ap = argmax + pl * PQ;
      float* dxp = dx + pl * HW;
      std::fill(dxp, dxp + HW, 0.0f);
      for (int64_t i = 0; i < PQ; ++i) dxp[ap[i]] = 0.0f + dyp[i];
    }
    return;
  }
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* dyp = dy + pl * PQ;
    const int32_t* ap = argmax + pl * PQ;
    float* dxp = dx + pl * HW;
    for (int ih = 0; ih < s.h; ++ih) {
      const int pb = s.p_begin(ih), pe = s.p_end(ih);
      for (int iw = 0; iw < s.w; ++iw) {
        const int qb = s.q_begin(iw), qe = s.q_end(iw);
        const int32_t me = ih * s.w + iw;
        float acc = 0.0f;
        for (int op = pb; op < pe; ++op)
          for (int oq = qb; oq < qe; ++oq)
            if (ap[op * Q + oq] == me) acc += dyp[op * Q + oq];
        dxp[me] = acc;
      }
    }
  }
}

void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y, const Stream&) {
  s.validate();
  const int P = s.p(), Q = s.q();
  const int64_t planes = static_cast<int64_t>(s.n) * s.c, HW = static_cast<int64_t>(s.h) * s.w,
                PQ = static_cast<int64_t>(P) * Q;
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * HW;
    float* yp = y + pl * PQ;
    for (int op = 0; op < P; ++op) {
      const int h0 = std::max(op * s.stride_h - s.pad_h, 0);
      const int h1 = std::min(op * s.stride_h - s.pad_h + s.kernel_h, s.h);
      for (int oq = 0; oq < Q; ++oq) {
        const int w0 = std::max(oq * s.stride_w - s.pad_w, 0);
        const int w1 = std::min(oq * s.stride_w - s.pad_w + s.kernel_w, s.w);
        float acc = 0.0f;
        for (int ih = h0; ih < h1; ++ih)
          for (int iw = w0; iw < w1; ++iw) acc += xp[ih * s.w + iw];
        yp[op * Q + oq] = acc / static_cast<float>(s.avg_divisor(op, oq));
      }
    }
  }
}

void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx, const Stream&) {
  s.validate();
  const int P = s.p(), Q = s.q();
  const int64_t planes = static_cast<int64_t>(s.n) * s.c, HW = static_cast<int64_t>(s.h) * s.w,
                PQ = static_cast<int64_t>(P) * Q;
#pragma omp parallel for schedule(static) if (s.x_size() >= kPoolParallelMin && detail::can_fork())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* dyp = dy + pl * PQ;
    float* dxp = dx + pl * HW;
    for (int ih = 0; ih < s.h; ++ih) {
      const int pb = s.p_begin(ih), pe = s.p_end(ih);
      for (int iw = 0; iw < s.w; ++iw) {
        const int qb = s.q_begin(iw), qe = s.q_end(iw);
        float acc = 0.0f;
        for (int op = pb; op < pe; ++op)
          for (int oq = qb; oq < qe; ++oq)
            acc += dyp[op * Q + oq] / static_cast<float>(s.avg_divisor(op, oq));
        dxp[ih * s.w + iw] = acc;
      }
    }
  }
}

}  // namespace kiln::cpu
