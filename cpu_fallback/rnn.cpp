// CPU plain RNN cell: one pass per row, parallel over rows. The float math is the GPU kernel's
// (kernels/rnn.cu: the same sum order and kernels/shapes/activation.h's activation), so relu
// agrees bit for bit and tanh to the last ulps of tanhf. Backward is the activation backward over
// the N*H cells, as on the GPU.
#include "kernels/rnn.h"

#include "cpu_fallback/parallel.h"
#include "kernels/activation.h"

namespace kiln::cpu {

void rnn_cell_forward(const RnnCellShape& s, const float* xg, const float* hg, const float* b_ih,
                      const float* b_hh, float* h, const Stream&) {
  s.validate();
  const int H = s.h;
  const int64_t xs = s.xg_stride();
  const Activation kind = rnn_activation_kind(s.activation);
#pragma omp parallel for schedule(static) if (s.cells() >= detail::kParallelMin)
  for (int row = 0; row < s.n; ++row) {
    const float* x = xg + row * xs;
    const float* r = hg ? hg + static_cast<int64_t>(row) * H : nullptr;
    float* y = h + static_cast<int64_t>(row) * H;
    for (int j = 0; j < H; ++j) {
      float a = x[j];
      if (r) a += r[j];
      if (b_ih) a += b_ih[j];
      if (b_hh) a += b_hh[j];
      y[j] = activation_apply(kind, 0.0f, a);
    }
  }
}

void rnn_cell_backward(const RnnCellShape& s, const float* h, const float* dh, float* da, const Stream& stream) {
  s.validate();
  activation_backward({.count = s.cells(), .kind = rnn_activation_kind(s.activation)}, h, dh, da, stream);
}

}  // namespace kiln::cpu
