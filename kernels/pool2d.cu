// GPU max and average pooling.
//
// Geometry: blockIdx.y walks the N*C planes, blockIdx.x/threadIdx.x the elements of a plane, both
// grid-stride, so index arithmetic is 32-bit within a plane (no 64-bit division) and any grid works.
//
// Forward: one thread per output element; each thread scans
// its window in the CPU twin's order (row-major, first maximum wins, a NaN wins and stops), so y and
// argmax are bit-identical to cpu_fallback. Consecutive threads own consecutive q, so loads of a
// window row are coalesced across the warp (strided by stride_w) and the overlap of neighbouring
// windows (AlexNet's 3x3 stride 2) is served from L1.
//
// Backward: one thread per INPUT element, gathering over the output windows that cover it
// (Pool2dShape::p_begin/p_end, q_begin/q_end; at most ceil(k/s)^2 of them, 4 for 3x3/2). No atomics:
// each dx element is written once, with the same summation order as the CPU, so results are
// deterministic and equal to the CPU's bit for bit (max) or up to the division rounding (avg: the
// same expression dy / divisor, summed in the same order).
#include "core/stream.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/pool2d.h"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
maxpool2d_forward_kernel(Pool2dShape s, const float* __restrict__ x, float* __restrict__ y,
                         int32_t* __restrict__ argmax) {
  const int P = s.p(), Q = s.q();
  const int PQ = P * Q, HW = s.h * s.w;
  const int64_t planes = static_cast<int64_t>(s.n) * s.c;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y)
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < PQ; r += gridDim.x * blockDim.x) {
    const int64_t i = pl * PQ + r;
    const int op = r / Q, oq = r - op * Q;
    const float* xp = x + pl * HW;  // (H, W)
    const int hs = op * s.stride_h - s.pad_h, ws = oq * s.stride_w - s.pad_w;
    const int h0 = hs > 0 ? hs : 0, w0 = ws > 0 ? ws : 0;
    const int h1 = hs + s.kernel_h < s.h ? hs + s.kernel_h : s.h;
    const int w1 = ws + s.kernel_w < s.w ? ws + s.kernel_w : s.w;
    float best = -INFINITY;
    int best_i = h0 * s.w + w0;
    bool nan = false;
    for (int ih = h0; ih < h1 && !nan; ++ih) {
      for (int iw = w0; iw < w1; ++iw) {
        const float v = __ldg(xp + ih * s.w + iw);
        if (v > best || v != v) {
          best = v;
          best_i = ih * s.w + iw;
          if (v != v) {
            nan = true;
            break;
          }
        }
      }
    }
    y[i] = best;
    if (argmax) argmax[i] = best_i;
  }
}

__global__ void __launch_bounds__(kThreads)
maxpool2d_backward_kernel(Pool2dShape s, const float* __restrict__ dy, const int32_t* __restrict__ argmax,
                          float* __restrict__ dx) {
  const int P = s.p(), Q = s.q();
  const int PQ = P * Q, HW = s.h * s.w;
  const int64_t planes = static_cast<int64_t>(s.n) * s.c;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y)
  for (int me = blockIdx.x * blockDim.x + threadIdx.x; me < HW; me += gridDim.x * blockDim.x) {
    const int64_t i = pl * HW + me;
    const int ih = me / s.w, iw = me - ih * s.w;
    const float* dyp = dy + pl * PQ;
    const int32_t* ap = argmax + pl * PQ;
    const int pb = s.p_begin(ih), pe = s.p_end(ih), qb = s.q_begin(iw), qe = s.q_end(iw);
    float acc = 0.0f;
    for (int op = pb; op < pe; ++op)
      for (int oq = qb; oq < qe; ++oq)
        if (__ldg(ap + op * Q + oq) == me) acc += __ldg(dyp + op * Q + oq);
    dx[i] = acc;
  }
}

__global__ void __launch_bounds__(kThreads)
avgpool2d_forward_kernel(Pool2dShape s, const float* __restrict__ x, float* __restrict__ y) {
  const int P = s.p(), Q = s.q();
  const int PQ = P * Q, HW = s.h * s.w;
  const int64_t planes = static_cast<int64_t>(s.n) * s.c;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y)
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < PQ; r += gridDim.x * blockDim.x) {
    const int64_t i = pl * PQ + r;
    const int op = r / Q, oq = r - op * Q;
    const float* xp = x + pl * HW;
    const int hs = op * s.stride_h - s.pad_h, ws = oq * s.stride_w - s.pad_w;
    const int h0 = hs > 0 ? hs : 0, w0 = ws > 0 ? ws : 0;
    const int h1 = hs + s.kernel_h < s.h ? hs + s.kernel_h : s.h;
    const int w1 = ws + s.kernel_w < s.w ? ws + s.kernel_w : s.w;
    float acc = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) acc += __ldg(xp + ih * s.w + iw);
    y[i] = acc / static_cast<float>(s.avg_divisor(op, oq));
  }
}

__global__ void __launch_bounds__(kThreads)
avgpool2d_backward_kernel(Pool2dShape s, const float* __restrict__ dy, float* __restrict__ dx) {
  const int P = s.p(), Q = s.q();
  const int PQ = P * Q, HW = s.h * s.w;
  const int64_t planes = static_cast<int64_t>(s.n) * s.c;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y)
  for (int me = blockIdx.x * blockDim.x + threadIdx.x; me < HW; me += gridDim.x * blockDim.x) {
    const int64_t i = pl * HW + me;
    const int ih = me / s.w, iw = me - ih * s.w;
    const float* dyp = dy + pl * PQ;
    const int pb = s.p_begin(ih), pe = s.p_end(ih), qb = s.q_begin(iw), qe = s.q_end(iw);
    float acc = 0.0f;
    for (int op = pb; op < pe; ++op)
      for (int oq = qb; oq < qe; ++oq) acc += __ldg(dyp + op * Q + oq) / static_cast<float>(s.avg_divisor(op, oq));
    dx[i] = acc;
  }
}

// Launch geometry: blockIdx.y walks the N*C planes (grid-stride), blockIdx.x/threadIdx.x the
// elements of a plane. Small planes (AlexNet's 13x13 -> 6x6) get a smaller block, a multiple of 32,
// so that few threads idle.
struct PlaneLaunch {
  dim3 grid, block;
};
static PlaneLaunch plane_launch(int64_t planes, int64_t per_plane) {
  int64_t threads = (per_plane + 31) / 32 * 32;
  if (threads > kThreads) threads = kThreads;
  if (threads < 32) threads = 32;
  const unsigned gx = grid_blocks(per_plane, threads, 1024);
  const unsigned gy = grid_blocks(planes, 1, 65535);
  return {dim3(gx, gy), dim3(static_cast<unsigned>(threads))};
}

}  // namespace

void maxpool2d_forward(const Pool2dShape& shape, const float* x, float* y, int32_t* argmax, const Stream& stream) {
  shape.validate();
  const PlaneLaunch l = plane_launch(static_cast<int64_t>(shape.n) * shape.c, static_cast<int64_t>(shape.p()) * shape.q());
  launch(maxpool2d_forward_kernel, l.grid, l.block, 0, stream, shape, x, y, argmax);
}

void maxpool2d_backward(const Pool2dShape& shape, const float* dy, const int32_t* argmax, float* dx,
                        const Stream& stream) {
  shape.validate();
  KILN_CHECK(argmax != nullptr, "maxpool2d_backward: argmax is null (run the forward pass with an argmax buffer)");
  const PlaneLaunch l = plane_launch(static_cast<int64_t>(shape.n) * shape.c, static_cast<int64_t>(shape.h) * shape.w);
  launch(maxpool2d_backward_kernel, l.grid, l.block, 0, stream, shape, dy, argmax, dx);
}

void avgpool2d_forward(const Pool2dShape& shape, const float* x, float* y, const Stream& stream) {
  shape.validate();
  const PlaneLaunch l = plane_launch(static_cast<int64_t>(shape.n) * shape.c, static_cast<int64_t>(shape.p()) * shape.q());
  launch(avgpool2d_forward_kernel, l.grid, l.block, 0, stream, shape, x, y);
}

void avgpool2d_backward(const Pool2dShape& shape, const float* dy, float* dx, const Stream& stream) {
  shape.validate();
  const PlaneLaunch l = plane_launch(static_cast<int64_t>(shape.n) * shape.c, static_cast<int64_t>(shape.h) * shape.w);
  launch(avgpool2d_backward_kernel, l.grid, l.block, 0, stream, shape, dy, dx);
}

}  // namespace kiln::gpu
