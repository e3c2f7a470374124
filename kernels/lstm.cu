// GPU fused LSTM cell (semantics in kernels/shapes/lstm.h).
//
// The LSTM layer (layers/recurrent.cpp) does the heavy lifting in GEMMs (the input projection of
// all time steps in one GEMM, one recurrent GEMM per step); what is left per step is pointwise and
// memory-bound, so it is fused into one kernel each way, as cuDNN and PyTorch's
// _thnn_fused_lstm_cell do: the forward reads the two projections, the two biases and c_{t-1} and
// writes the activated gates (kept for backward), c_t and h_t in one pass; the backward reads
// the gates, c_{t-1}, c_t, dh_t and dc_t and writes the four pre-activation gradients and
// dc_{t-1} in one pass. One thread per cell (n, j) in a grid-stride loop: consecutive threads
// take consecutive j, so each of the four gate blocks of a row is read and written coalesced.
// Indices are 32-bit (validate() bounds N*4H below 2^31; the xg row offset is 64-bit) so there is
// no 64-bit division in the loop. tanh(c_t) is recomputed in backward rather than stored.

#include <climits>

#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/lstm.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
lstm_cell_forward_kernel(LstmCellShape s, const float* xg, const float* __restrict__ hg,
                         const float* __restrict__ b_ih, const float* __restrict__ b_hh,
                         const float* __restrict__ c_prev, float* gates, float* __restrict__ c,
                         float* __restrict__ h) {
  const int H = s.h;
  const int cells = s.n * H;
  const int64_t xs = s.xg_stride();
  for (int idx = blockIdx.x * kThreads + threadIdx.x; idx < cells; idx += gridDim.x * kThreads) {
    const int row = idx / H, j = idx - row * H;
    const float* x = xg + row * xs + j;
    float a[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      float v = x[q * H];
      if (hg) v += hg[row * 4 * H + q * H + j];
      if (b_ih) v += b_ih[q * H + j];
      if (b_hh) v += b_hh[q * H + j];
      a[q] = v;
    }
    const float ig = lstm_sigmoid(a[0]);
    const float fg = lstm_sigmoid(a[1] + s.forget_bias);
    const float gg = tanhf(a[2]);
    const float og = lstm_sigmoid(a[3]);
    const float cp = c_prev ? c_prev[idx] : 0.0f;
    const float cn = fg * cp + ig * gg;
    float* gr = gates + row * 4 * H + j;
    gr[0] = ig;
    gr[H] = fg;
    gr[2 * H] = gg;
    gr[3 * H] = og;
    c[idx] = cn;
    h[idx] = og * tanhf(cn);
  }
}

// No __restrict__ on the aliasable pairs (da/gates, dc_prev/dc): each element is read before the
// same thread writes it (likewise xg/gates in forward).
__global__ void __launch_bounds__(kThreads)
lstm_cell_backward_kernel(LstmCellShape s, const float* gates, const float* __restrict__ c_prev,
                          const float* __restrict__ c, const float* __restrict__ dh, const float* dc, float* da,
                          float* dc_prev) {
  const int H = s.h;
  const int cells = s.n * H;
  for (int idx = blockIdx.x * kThreads + threadIdx.x; idx < cells; idx += gridDim.x * kThreads) {
    const int row = idx / H, j = idx - row * H;
    const int g0 = row * 4 * H + j;
    const float ig = gates[g0], fg = gates[g0 + H], gg = gates[g0 + 2 * H], og = gates[g0 + 3 * H];
    const float tc = tanhf(c[idx]);
    const float dhv = dh ? dh[idx] : 0.0f;
    const float dct = (dc ? dc[idx] : 0.0f) + dhv * og * (1.0f - tc * tc);
    const float cp = c_prev ? c_prev[idx] : 0.0f;
    da[g0] = dct * gg * ig * (1.0f - ig);
    da[g0 + H] = dct * cp * fg * (1.0f - fg);
    da[g0 + 2 * H] = dct * ig * (1.0f - gg * gg);
    da[g0 + 3 * H] = dhv * tc * og * (1.0f - og);
    if (dc_prev) dc_prev[idx] = dct * fg;
  }
}

static void check_int_range(int64_t v, const char* what) {
  KILN_CHECK(v < INT_MAX, "{}: {} elements exceed the 32-bit indexing of the kernel", what, v);
}

}  // namespace

void lstm_cell_forward(const LstmCellShape& s, const float* xg, const float* hg, const float* b_ih,
                       const float* b_hh, const float* c_prev, float* gates, float* c, float* h,
                       const Stream& stream) {
  s.validate();
  check_int_range(s.n * s.gate_cols(), "lstm_cell_forward");
  launch(lstm_cell_forward_kernel, grid_blocks(s.cells(), kThreads), kThreads, 0, stream, s, xg, hg, b_ih, b_hh,
         c_prev, gates, c, h);
}

void lstm_cell_backward(const LstmCellShape& s, const float* gates, const float* c_prev, const float* c,
                        const float* dh, const float* dc, float* da, float* dc_prev, const Stream& stream) {
  s.validate();
  check_int_range(s.n * s.gate_cols(), "lstm_cell_backward");
  launch(lstm_cell_backward_kernel, grid_blocks(s.cells(), kThreads), kThreads, 0, stream, s, gates, c_prev, c, dh,
         dc, da, dc_prev);
}

}  // namespace kiln::gpu
