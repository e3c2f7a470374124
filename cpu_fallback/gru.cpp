// CPU fused GRU cell (one pass per row, parallel over rows). The float math is the GPU kernel's
// (kernels/gru.cu), so the two agree to the last ulps of expf/tanhf.
#include "kernels/gru.h"

#include <cmath>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {

void gru_cell_forward(const GruCellShape& s, const float* xg, const float* hg, const float* b_ih, const float* b_hh,
                      const float* h_prev, float* gates, float* hn, float* h, const Stream&) {
  s.validate();
  const int H = s.h;
  const int64_t xs = s.xg_stride(), g3 = s.gate_cols();
#pragma omp parallel for schedule(static) if (s.cells() * 3 >= detail::kParallelMin)
  for (int row = 0; row < s.n; ++row) {
    const float* x = xg + row * xs;
    const float* rg = hg ? hg + row * g3 : nullptr;
    float* gr = gates + row * g3;
    for (int j = 0; j < H; ++j) {
      float ax[3], ah[3];
      for (int q = 0; q < 3; ++q) {
        ax[q] = x[q * H + j] + (b_ih ? b_ih[q * H + j] : 0.0f);
        ah[q] = (rg ? rg[q * H + j] : 0.0f) + (b_hh ? b_hh[q * H + j] : 0.0f);
      }
      const int64_t idx = static_cast<int64_t>(row) * H + j;
      const float r = gru_sigmoid(ax[0] + ah[0]);
      const float z = gru_sigmoid(ax[1] + ah[1]);
      const float n = std::tanh(ax[2] + r * ah[2]);
      const float hp = h_prev ? h_prev[idx] : 0.0f;
      gr[j] = r;
      gr[H + j] = z;
      gr[2 * H + j] = n;
      hn[idx] = ah[2];
      h[idx] = (1.0f - z) * n + z * hp;
    }
  }
}

void gru_cell_backward(const GruCellShape& s, const float* gates, const float* hn, const float* h_prev,
                       const float* dh, const float* dh_carry, float* da_x, float* da_h, float* dh_prev,
                       const Stream&) {
  s.validate();
  const int H = s.h;
  const int64_t g3 = s.gate_cols();
#pragma omp parallel for schedule(static) if (s.cells() * 3 >= detail::kParallelMin)
  for (int row = 0; row < s.n; ++row) {
    const float* gr = gates + row * g3;
    float* dx = da_x + row * g3;
    float* dhh = da_h + row * g3;
    for (int j = 0; j < H; ++j) {
      const int64_t idx = static_cast<int64_t>(row) * H + j;
      const float r = gr[j], z = gr[H + j], n = gr[2 * H + j];
      const float g = (dh ? dh[idx] : 0.0f) + (dh_carry ? dh_carry[idx] : 0.0f);
      const float hp = h_prev ? h_prev[idx] : 0.0f;
      const float dan = g * (1.0f - z) * (1.0f - n * n);
      const float daz = g * (hp - n) * z * (1.0f - z);
      const float dar = dan * hn[idx] * r * (1.0f - r);
      dx[j] = dar;
      dx[H + j] = daz;
      dx[2 * H + j] = dan;
      dhh[j] = dar;
      dhh[H + j] = daz;
      dhh[2 * H + j] = dan * r;
      if (dh_prev) dh_prev[idx] = g * z;
    }
  }
}

}  // namespace kiln::cpu
