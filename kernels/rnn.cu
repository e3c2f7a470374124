// GPU plain RNN cell (semantics in kernels/shapes/rnn.h).
//
// The RNN layer does the heavy lifting in GEMMs (the input projection of all time steps in one
// GEMM, one recurrent GEMM per step); what is left per step is pointwise and memory-bound.
//
// Forward: one fused pass reads the two projections and the two biases and writes h_t (the
// unfused way would be three bias/add passes and an activation pass over the same (N, H) data).
// One thread per cell (n, j) in a grid-stride loop: consecutive threads take consecutive j, so
// every warp reads and writes whole contiguous runs of a row (coalesced) and the biases are read
// from the cache. Loads are scalar: a warp's 32 consecutive floats already make full 128-byte
// transactions, and float4 would need H and x_stride to be multiples of 4 and aligned pointers,
// which strided batch-first views are not; it would save instructions, not bandwidth. The kernel
// is a template on the activation (as kernels/activation.cu) so the switch folds away; the math
// is kernels/shapes/activation.h's, shared with the CPU twin. Indices are unsigned 32-bit:
// validate() bounds N*H by 2^31 - 1 and grid_blocks() caps the grid at 8192 blocks, so idx plus
// the grid stride stays below 2^32 and the loop cannot wrap; the xg row offset is 64-bit.
//
// Backward: da = dh * act'(h) is exactly the activation backward (kernels/activation.cu) over the
// N*H cells, so it is that kernel (float4 when aligned, in place allowed), not a copy of it.
#include "core/stream.h"
#include "kernels/activation.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/rnn.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

// No __restrict__ on xg and h: h may alias a packed xg (each element is read, then written, by
// the same thread).
template <Activation K>
__global__ void __launch_bounds__(kThreads)
rnn_cell_forward_kernel(unsigned cells, unsigned H, int64_t xs, const float* xg, const float* __restrict__ hg,
                        const float* __restrict__ b_ih, const float* __restrict__ b_hh, float* h) {
  for (unsigned idx = blockIdx.x * kThreads + threadIdx.x; idx < cells; idx += gridDim.x * kThreads) {
    const unsigned row = idx / H, j = idx - row * H;
    float a = xg[row * xs + j];
    if (hg) a += hg[idx];
    if (b_ih) a += b_ih[j];
    if (b_hh) a += b_hh[j];
    h[idx] = activation_apply(K, 0.0f, a);
  }
}

template <Activation K>
void forward_as(const RnnCellShape& s, const float* xg, const float* hg, const float* b_ih, const float* b_hh,
                float* h, const Stream& stream) {
  launch(rnn_cell_forward_kernel<K>, grid_blocks(s.cells(), kThreads), kThreads, 0, stream,
         static_cast<unsigned>(s.cells()), static_cast<unsigned>(s.h), s.xg_stride(), xg, hg, b_ih, b_hh, h);
}

}  // namespace

void rnn_cell_forward(const RnnCellShape& s, const float* xg, const float* hg, const float* b_ih,
                      const float* b_hh, float* h, const Stream& stream) {
  s.validate();
  if (s.activation == RnnActivation::Relu) return forward_as<Activation::Relu>(s, xg, hg, b_ih, b_hh, h, stream);
  forward_as<Activation::Tanh>(s, xg, hg, b_ih, b_hh, h, stream);
}

void rnn_cell_backward(const RnnCellShape& s, const float* h, const float* dh, float* da, const Stream& stream) {
  s.validate();
  activation_backward({.count = s.cells(), .kind = rnn_activation_kind(s.activation)}, h, dh, da, stream);
}

}  // namespace kiln::gpu
