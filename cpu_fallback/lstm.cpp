// CPU fused LSTM cell (one pass per row, parallel over rows). The float math is the
// GPU kernel's (kernels/lstm.cu), so the two agree to the last ulps of expf/tanhf.
#include "kernels/lstm.h"

#include <cmath>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void lstm_cell_forward(const LstmCellShape& s, const float* xg, const float* hg, const float* b_ih,
                       const float* b_hh, const float* c_prev, float* gates, float* c, float* h, const Stream&) {
  s.validate();
  const int H = s.h;
  const int64_t xs = s.xg_stride(), g4 = s.gate_cols();
#pragma omp parallel for schedule(static) if (s.cells() * 4 >= detail::kParallelMin)
  for (int row = 0; row < s.n; ++row) {
    const float* x = xg + row * xs;
    const float* r = hg ? hg + row * g4 : nullptr;
    float* gr = gates + row * g4;
    for (int j = 0; j < H; ++j) {
      float a[4];
      for (int q = 0; q < 4; ++q) {
        float v = x[q * H + j];
        if (r) v += r[q * H + j];
        if (b_ih) v += b_ih[q * H + j];
        if (b_hh) v += b_hh[q * H + j];
        a[q] = v;
      }
      const int64_t idx = static_cast<int64_t>(row) * H + j;
      const float ig = lstm_sigmoid(a[0]);
      const float fg = lstm_sigmoid(a[1] + s.forget_bias);
      const float gg = std::tanh(a[2]);
      const float og = lstm_sigmoid(a[3]);
      const float cp = c_prev ? c_prev[idx] : 0.0f;
      const float cn = fg * cp + ig * gg;
      gr[j] = ig;
      gr[H + j] = fg;
      gr[2 * H + j] = gg;
      gr[3 * H + j] = og;
      c[idx] = cn;
      h[idx] = og * std::tanh(cn);
    }
  }
}

void lstm_cell_backward(const LstmCellShape& s, const float* gates, const float* c_prev, const float* c,
                        const float* dh, const float* dc, float* da, float* dc_prev, const Stream&) {
  s.validate();
  const int H = s.h;
  const int64_t g4 = s.gate_cols();
#pragma omp parallel for schedule(static) if (s.cells() * 4 >= detail::kParallelMin)
  for (int row = 0; row < s.n; ++row) {
    const float* gr = gates + row * g4;
    float* dr = da + row * g4;
    for (int j = 0; j < H; ++j) {
      const int64_t idx = static_cast<int64_t>(row) * H + j;
      const float ig = gr[j], fg = gr[H + j], gg = gr[2 * H + j], og = gr[3 * H + j];
      const float tc = std::tanh(c[idx]);
      const float dhv = dh ? dh[idx] : 0.0f;
      const float dct = (dc ? dc[idx] : 0.0f) + dhv * og * (1.0f - tc * tc);
      const float cp = c_prev ? c_prev[idx] : 0.0f;
      dr[j] = dct * gg * ig * (1.0f - ig);
      dr[H + j] = dct * cp * fg * (1.0f - fg);
      dr[2 * H + j] = dct * ig * (1.0f - gg * gg);
      dr[3 * H + j] = dhv * tc * og * (1.0f - og);
      if (dc_prev) dc_prev[idx] = dct * fg;
    }
  }
}

}  // namespace kiln::cpu
