// CPU max and average pooling, parallel over (n, c) planes. Backward passes gather over the
// windows that cover each input element (Pool2dShape::p_begin/p_end), so each dx element is
// written once, in a fixed order.
#include "cpu_fallback/pool2d.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu_fallback/detail.h"

namespace kiln::cpu {

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, const Stream&) {
  s.validate();
  const int P = s.p(), Q = s.q();
  const int64_t planes = static_cast<int64_t>(s.n) * s.c, HW = static_cast<int64_t>(s.h) * s.w,
                PQ = static_cast<int64_t>(P) * Q;
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
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
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
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
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
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
#pragma omp parallel for schedule(static) if (s.x_size() >= detail::kParallelMin)
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
