// GPU fused GRU cell (semantics in kernels/shapes/gru.h).
//
// As the LSTM's (kernels/lstm.cu): the layer does the heavy lifting in GEMMs, and what is left per
// step is pointwise and memory-bound, so it is one kernel each way. The forward reads the two
// projections, the two biases and h_{t-1} and writes the activated gates, hg_n + b_hn (both kept
// for backward) and h_t in one pass; the backward reads them, h_{t-1}, dh_t and the direct carry
// and writes both gate-gradient blocks and the next carry in one pass. One thread per cell (n, j)
// in a grid-stride loop: consecutive threads take consecutive j, so each gate block of a row is
// read and written coalesced. 32-bit indices (the launchers bound N*3H below 2^31; the xg row
// offset is 64-bit) keep 64-bit division out of the loop.

#include <climits>

#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/gru.h"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

// No __restrict__ on xg/gates: gates may alias xg (each element read before the same thread
// writes it).
__global__ void __launch_bounds__(kThreads)
gru_cell_forward_kernel(GruCellShape s, const float* xg, const float* __restrict__ hg,
                        const float* __restrict__ b_ih, const float* __restrict__ b_hh,
                        const float* __restrict__ h_prev, float* gates, float* __restrict__ hn,
                        float* __restrict__ h) {
  const int H = s.h;
  const int cells = s.n * H;
  const int64_t xs = s.xg_stride();
  for (int idx = blockIdx.x * kThreads + threadIdx.x; idx < cells; idx += gridDim.x * kThreads) {
    const int row = idx / H, j = idx - row * H;
    const float* x = xg + row * xs + j;
    float ax[3], ah[3];
#pragma unroll
    for (int q = 0; q < 3; ++q) {
      ax[q] = x[q * H] + (b_ih ? b_ih[q * H + j] : 0.0f);
      ah[q] = (hg ? hg[row * 3 * H + q * H + j] : 0.0f) + (b_hh ? b_hh[q * H + j] : 0.0f);
    }
    const float r = gru_sigmoid(ax[0] + ah[0]);
    const float z = gru_sigmoid(ax[1] + ah[1]);
    const float n = tanhf(ax[2] + r * ah[2]);
    const float hp = h_prev ? h_prev[idx] : 0.0f;
    float* gr = gates + row * 3 * H + j;
    gr[0] = r;
    gr[H] = z;
    gr[2 * H] = n;
    hn[idx] = ah[2];
    h[idx] = (1.0f - z) * n + z * hp;
  }
}

// No __restrict__ on dh_carry/dh_prev: they may alias (read, then written, by the same thread).
__global__ void __launch_bounds__(kThreads)
gru_cell_backward_kernel(GruCellShape s, const float* __restrict__ gates, const float* __restrict__ hn,
                         const float* __restrict__ h_prev, const float* __restrict__ dh, const float* dh_carry,
                         float* __restrict__ da_x, float* __restrict__ da_h, float* dh_prev) {
  const int H = s.h;
  const int cells = s.n * H;
  for (int idx = blockIdx.x * kThreads + threadIdx.x; idx < cells; idx += gridDim.x * kThreads) {
    const int row = idx / H, j = idx - row * H;
    const int g0 = row * 3 * H + j;
    const float r = gates[g0], z = gates[g0 + H], n = gates[g0 + 2 * H];
    const float g = (dh ? dh[idx] : 0.0f) + (dh_carry ? dh_carry[idx] : 0.0f);
    const float hp = h_prev ? h_prev[idx] : 0.0f;
    const float dan = g * (1.0f - z) * (1.0f - n * n);
    const float daz = g * (hp - n) * z * (1.0f - z);
    const float dar = dan * hn[idx] * r * (1.0f - r);
    da_x[g0] = dar;
    da_x[g0 + H] = daz;
    da_x[g0 + 2 * H] = dan;
    da_h[g0] = dar;
    da_h[g0 + H] = daz;
    da_h[g0 + 2 * H] = dan * r;
    if (dh_prev) dh_prev[idx] = g * z;
  }
}

// static: nvcc renames the anonymous namespace in its host pass, and -Wmissing-declarations would fire.
static void check_int_range(int64_t v, const char* what) {
  KILN_CHECK(v < INT_MAX, "{}: {} elements exceed the 32-bit indexing of the kernel", what, v);
}

}  // namespace

void gru_cell_forward(const GruCellShape& s, const float* xg, const float* hg, const float* b_ih, const float* b_hh,
                      const float* h_prev, float* gates, float* hn, float* h, const Stream& stream) {
  s.validate();
  check_int_range(s.n * s.gate_cols(), "gru_cell_forward");
  launch(gru_cell_forward_kernel, grid_blocks(s.cells(), kThreads), kThreads, 0, stream, s, xg, hg, b_ih, b_hh,
         h_prev, gates, hn, h);
}

void gru_cell_backward(const GruCellShape& s, const float* gates, const float* hn, const float* h_prev,
                       const float* dh, const float* dh_carry, float* da_x, float* da_h, float* dh_prev,
                       const Stream& stream) {
  s.validate();
  check_int_range(s.n * s.gate_cols(), "gru_cell_backward");
  launch(gru_cell_backward_kernel, grid_blocks(s.cells(), kThreads), kThreads, 0, stream, s, gates, hn, h_prev, dh,
         dh_carry, da_x, da_h, dh_prev);
}

}  // namespace kiln::gpu
