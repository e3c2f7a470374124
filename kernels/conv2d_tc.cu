// v3_tc: the convolution passes as implicit GEMMs on the tensor cores (sm_80+), x, w, dy, y, dx and
// dw FP32 NCHW/OIHW in memory, the two operands of each product rounded to TF32, BF16 or F16 as
// their fragments are loaded, FP32 accumulation: the arithmetic of conv2d_*_rounded
// (kernels/conv2d.inc) and of its CPU twin. The GEMM views are v2's (kernels/conv2d.h), per group:
//   forward          Y (K/G x N*P*Q)  = W (K/G x C/G*R*S)   * im2col(x)
//   backward_data    dX (C/G x N*H*W) = W^T (C/G x K/G*R*S) * gather(dy)
//   backward_filter  dW (K/G x C/G*R*S) += dY (K/G x N*P*Q) * im2col(x)^T, N*P*Q split into chunks
// No im2col buffer: each thread's cp.async copies gather the tile straight from x or dy.
//
// Block. kernels/mma_tile.cuh's 128x128 tile (8 warps of 64x32, mma.m16n8k8 TF32 or m16n8k16
// BF16/F16), K advancing kBK = 16 per tile, kStages = 4 slots of the cp.async pipeline: with FP32
// tiles a stage takes 18.5 KiB (TF32) to 24 KiB (BF16/F16 backward_filter, both operands
// k-contiguous), four take 74-96 KiB, under the 99 KiB opt-in of sm_86/sm_89 (set by
// cudaFuncSetAttribute: over 48 KiB). Four stages of 16 rather than gemm_tc's two of 32: the
// gather's copies are 4-byte ones, many per tile, and more tiles in flight hide their latency.
// blockIdx.x walks the GEMM's N tiles, y its M tiles, z the groups (x split-K chunks).
//
// Staging. A is staged k-contiguous [128 m][16 k] (4 threads a row, 4 consecutive k each, 2 rows a
// thread), B mn-contiguous [16 k][128 n] (a thread owns column n, 8 consecutive k) for forward and
// backward_data, k-contiguous for backward_filter (consecutive k there are consecutive output
// pixels, i.e. consecutive x addresses along a row). So the warp's lanes of one copy instruction
// read consecutive pixels (coalesced when the stride is 1). What a thread copies is described by
// an "operand" (below): a Line is the fixed row or column it owns for the whole block (pointers and
// offsets worked out once), a Step a reduction index decoded into (c, r, s) or (n, p, q) once per
// tile and then advanced by one without divisions. An out-of-range index, a tap outside the image
// or a backward_data tap between strides reads 0 through the zero-fill form of cp.async (src_bytes
// = 0), so ragged M, N, K, padding and stride need no other code. Copies are 4-byte cp.async.ca,
// 16-byte cp.async.cg where a row is contiguous and aligned: the forward's weights (C/G*R*S % 4 ==
// 0) and backward_filter's dy (P*Q % 4 == 0).
//
// Layout: NCHW, as every kiln tensor. Channels-last (NHWC/KRSC) is what cuDNN and cutlass prefer
// for tensor cores: the reduction index (r, s, c) then has c innermost, so a tile row of 16 k is
// 64 contiguous bytes of one pixel: 16-byte copies always (for C/G % 4 == 0), one bounds check per
// 4-16 channels instead of one per element, and the (r, s) decode once per C/G channels. Here the
// k of im2col(x) runs over (c, r, s) with s innermost, contiguous only along a row of one channel,
// so the gather is element-wise. Adding NHWC would mean converting x and dy (a transpose, 8 bytes
// per element moved per pass) at the layer boundary or keeping activations channels-last through
// pooling/LRN/bias too; left for a later version (`Not yet` below).
//
// Epilogue. Each accumulator pair goes straight to its elements (one 8-byte access where the two
// columns are adjacent and aligned), the GEMM's (row, column) split into a row offset (channel) and
// a column offset (image, pixel) decoded once per thread: y gets the bias added, dx is written, dw
// accumulated (one chunk) or the chunk's partial written to the workspace;
// a second kernel adds the partials to dw in chunk order (deterministic, no atomics). The chunk
// count is a function of the shape only (filter_splits).
//
// Resources (tools/kernel_report, nvcc 13): 119-128 registers, 0 spills at sm_80 and sm_90; dynamic
// shared memory 74 KiB (TF32 forward/backward_data), 80 KiB (TF32 backward_filter), 81 KiB (16-bit
// forward/backward_data), 96 KiB (16-bit backward_filter). So 2 blocks (16 warps) per SM on sm_80
// and sm_90 (registers and shared memory alike), 1 for 16-bit backward_filter on sm_80 and for all
// of them on sm_86/sm_89 (100 KiB per SM).
//
// Not yet: channels-last, BF16/F16 staged as 16 bits (half the shared memory: 32-wide k-tiles or
// more stages, ldmatrix), C staged through shared memory for fully coalesced 16-byte stores, a
// 64-wide tile for small K/G or C/G (AlexNet conv1's K = 96 fills 75% of a 128 tile), backward_data
// split by stride phase (with stride s only 1/s^2 of the (k, r, s) taps of a pixel are non-zero:
// AlexNet conv1 multiplies 15/16 zeros; the first layer's dx is rarely needed, though).
#include <algorithm>
#include <cstdint>

#include "core/cuda_check.h"
#include "core/error.h"
#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/compute_capability.h"
#include "kernels/conv2d.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"
#include "kernels/mma_tile.cuh"

namespace kiln::gpu {
namespace {

using mma_tile::kBM;
using mma_tile::kBN;
using mma_tile::kThreads;
constexpr int kBK = 16, kStages = 4;

// The sizes of one convolution, worked out once on the host.
struct Geometry {
  int n, c, h, w, k, r, s, p, q;
  int sh, sw, ph, pw, dh, dw;
  int cg, kg, rs, crs, hw, pq;
};

static Geometry geometry(const Conv2dShape& s) {
  return {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.p(), s.q(),
          s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w,
          s.c_per_group(), s.k_per_group(), s.r * s.s, static_cast<int>(s.crs()), s.h * s.w, s.p() * s.q()};
}

__device__ __forceinline__ bool inside(int v, int size) {
  return static_cast<unsigned>(v) < static_cast<unsigned>(size);
}

// A reduction index of the forward and backward_data GEMMs: (channel, r, s), s fastest.
struct Tap {
  int ch, r, s;
};

__device__ __forceinline__ Tap tap_of(const Geometry& d, int kd) {
  const int ch = kd / d.rs, rs = kd - ch * d.rs, r = rs / d.s;
  return {ch, r, rs - r * d.s};
}

__device__ __forceinline__ void next_tap(const Geometry& d, Tap& t) {
  if (++t.s == d.s) {
    t.s = 0;
    if (++t.r == d.r) t.r = 0, ++t.ch;
  }
}

// ---- operands: what one thread copies of a tile ----------------------------------------------
// struct Line;  Line line(int mn) const;       the tile row (k-contiguous) or column it owns
// struct Step;  Step step(int kd) const; void next(Step&) const;   a reduction index, and kd + 1
// const float* at(const Line&, const Step&) const;   its element, nullptr for a 0
// const float* base;   a valid address for the zero-fill copies
// vec (k-contiguous tiles): 4 consecutive kd from a multiple of 4 are contiguous and 16-byte aligned

// Rows of a row-major matrix: forward's weights W_g (K/G x C/G*R*S).
struct MatrixRows {
  const float* base;
  int rows, ld;
  bool vec;
  struct Line {
    const float* p;
  };
  struct Step {
    int kd;
  };
  __device__ Line line(int m) const { return {m < rows ? base + int64_t{m} * ld : nullptr}; }
  __device__ Step step(int kd) const { return {kd}; }
  __device__ void next(Step& st) const { ++st.kd; }
  __device__ const float* at(const Line& l, const Step& st) const { return l.p ? l.p + st.kd : nullptr; }
};

// im2col(x)_g (C/G*R*S x N*P*Q) by columns: forward's B.
struct Im2colColumns {
  const float* base;  // x at (image 0, first channel of the group)
  Geometry d;
  int cols;  // N*P*Q
  struct Line {
    const float* p;  // x at (n, first channel of the group); nullptr past the last column
    int h0, w0;      // the output pixel's top-left tap
  };
  using Step = Tap;  // (c, r, s)
  __device__ Line line(int col) const {
    if (col >= cols) return {nullptr, 0, 0};
    const int img = col / d.pq, pq = col - img * d.pq, p = pq / d.q, q = pq - p * d.q;
    return {base + int64_t{img} * d.c * d.hw, p * d.sh - d.ph, q * d.sw - d.pw};
  }
  __device__ Step step(int kd) const { return tap_of(d, kd); }
  __device__ void next(Step& st) const { next_tap(d, st); }
  __device__ const float* at(const Line& l, const Step& st) const {
    const int h = l.h0 + st.r * d.dh, w = l.w0 + st.s * d.dw;
    return l.p && inside(h, d.h) && inside(w, d.w) ? l.p + st.ch * d.hw + h * d.w + w : nullptr;
  }
};

// W_g^T (C/G x K/G*R*S) by rows: backward_data's A, row c, column (k, r, s) = w[k, c, r, s].
struct WeightColumns {
  const float* base;  // w at the group's first output channel
  Geometry d;
  static constexpr bool vec = false;
  struct Line {
    const float* p;
  };
  struct Step {
    int off, rs;  // k * C/G*R*S + rs, and rs
  };
  __device__ Line line(int c) const { return {c < d.cg ? base + c * d.rs : nullptr}; }
  __device__ Step step(int kd) const {
    const int k = kd / d.rs, rs = kd - k * d.rs;
    return {k * d.crs + rs, rs};
  }
  __device__ void next(Step& st) const {
    ++st.off;
    if (++st.rs == d.rs) st.rs = 0, st.off += d.crs - d.rs;
  }
  __device__ const float* at(const Line& l, const Step& st) const { return l.p ? l.p + st.off : nullptr; }
};

// gather(dy)_g (K/G*R*S x N*H*W) by columns: backward_data's B. Row (k, r, s) of input pixel (h, w)
// is dy[n, k, p, q] where the forward tap (r, s) of output (p, q) lands on (h, w):
// h + pad_h - r*dil_h = p*stride_h (likewise w); 0 where no output pixel does.
struct DyGatherColumns {
  const float* base;  // dy at (image 0, first channel of the group)
  Geometry d;
  int cols;  // N*H*W
  struct Line {
    const float* p;  // dy at (n, first channel of the group); nullptr past the last column
    int hp, wp;      // h + pad_h, w + pad_w
  };
  using Step = Tap;  // (k, r, s)
  __device__ Line line(int col) const {
    if (col >= cols) return {nullptr, 0, 0};
    const int img = col / d.hw, hw = col - img * d.hw, h = hw / d.w;
    return {base + int64_t{img} * d.k * d.pq, h + d.ph, hw - h * d.w + d.pw};
  }
  __device__ Step step(int kd) const { return tap_of(d, kd); }
  __device__ void next(Step& st) const { next_tap(d, st); }
  __device__ const float* at(const Line& l, const Step& st) const {
    const int th = l.hp - st.r * d.dh, tw = l.wp - st.s * d.dw;
    if (!l.p || th < 0 || tw < 0) return nullptr;
    const int p = th / d.sh, q = tw / d.sw;
    if (p * d.sh != th || q * d.sw != tw || p >= d.p || q >= d.q) return nullptr;
    return l.p + st.ch * d.pq + p * d.q + q;
  }
};

// dY_g (K/G x N*P*Q) by rows: backward_filter's A, row k, column (n, p, q) = dy[n, k, p, q].
struct DyRows {
  const float* base;  // dy at (image 0, first channel of the group)
  Geometry d;
  bool vec;  // P*Q % 4 == 0 and dy aligned: an aligned run of 4 stays in one image
  struct Line {
    const float* p;
  };
  struct Step {
    int off, pq;  // n * K*P*Q + pq, and pq
  };
  __device__ Line line(int k) const { return {k < d.kg ? base + k * d.pq : nullptr}; }
  __device__ Step step(int kd) const {
    const int img = kd / d.pq, pq = kd - img * d.pq;
    return {img * d.k * d.pq + pq, pq};
  }
  __device__ void next(Step& st) const {
    ++st.off;
    if (++st.pq == d.pq) st.pq = 0, st.off += (d.k - 1) * d.pq;
  }
  __device__ const float* at(const Line& l, const Step& st) const { return l.p ? l.p + st.off : nullptr; }
};

// im2col(x)_g^T (C/G*R*S x N*P*Q) by rows: backward_filter's B (stored "transposed", k-contiguous),
// row (c, r, s), column (n, p, q) = x[n, c, p*stride_h + r*dil_h - pad_h, q*stride_w + s*dil_w - pad_w].
struct Im2colRows {
  const float* base;  // x at (image 0, first channel of the group)
  Geometry d;
  static constexpr bool vec = false;
  struct Line {
    const float* p;  // x at (image 0, c); nullptr past the last row
    int roff, soff;  // r*dil_h - pad_h, s*dil_w - pad_w
  };
  struct Step {
    int img_off, p, q;  // n * C*H*W, p, q
  };
  __device__ Line line(int crs) const {
    if (crs >= d.crs) return {nullptr, 0, 0};
    const int c = crs / d.rs, rs = crs - c * d.rs, r = rs / d.s;
    return {base + c * d.hw, r * d.dh - d.ph, (rs - r * d.s) * d.dw - d.pw};
  }
  __device__ Step step(int kd) const {
    const int img = kd / d.pq, pq = kd - img * d.pq, p = pq / d.q;
    return {img * d.c * d.hw, p, pq - p * d.q};
  }
  __device__ void next(Step& st) const {
    if (++st.q == d.q) {
      st.q = 0;
      if (++st.p == d.p) st.p = 0, st.img_off += d.c * d.hw;
    }
  }
  __device__ const float* at(const Line& l, const Step& st) const {
    const int h = st.p * d.sh + l.roff, w = st.q * d.sw + l.soff;
    return l.p && inside(h, d.h) && inside(w, d.w) ? l.p + st.img_off + h * d.w + w : nullptr;
  }
};

// ---- staging: one operand tile, as cp.async copies (no commit) ----------------------------------
// k-contiguous [MN][kBK]: thread owns rows tid/4 + 64j (lines[j]) and k kc .. kc+3, kc = 4 (tid % 4).
constexpr int kQuads = kBK / 4, kRowStep = kThreads / kQuads, kLinesK = kBM / kRowStep;

template <class L, class Op>
__device__ __forceinline__ void stage_k(const Op& op, const typename Op::Line (&lines)[kLinesK], float* dst, int k0,
                                        int k_end) {
  const int tid = static_cast<int>(threadIdx.x), kc = tid % kQuads * 4;
  float* d = dst + tid / kQuads * L::kStride + kc;
  const int kd0 = k0 + kc;
  typename Op::Step st = op.step(kd0);
  if (op.vec) {
    const int n = min(max(k_end - kd0, 0), 4);
#pragma unroll
    for (int j = 0; j < kLinesK; ++j) {
      const float* src = n > 0 ? op.at(lines[j], st) : nullptr;
      mma::cp_async_cg16(d + j * kRowStep * L::kStride, src ? src : op.base, src ? 4 * n : 0);
    }
    return;
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) {
#pragma unroll
    for (int j = 0; j < kLinesK; ++j) {
      const float* src = kd0 + e < k_end ? op.at(lines[j], st) : nullptr;
      mma::cp_async_ca<4>(d + j * kRowStep * L::kStride + e, src ? src : op.base, src ? 4 : 0);
    }
    if (e < 3) op.next(st);
  }
}

// mn-contiguous [kBK][MN]: thread owns column tid % MN (line) and k kr .. kr+7, kr = 8 (tid / MN).
template <class L, class Op>
__device__ __forceinline__ void stage_mn(const Op& op, const typename Op::Line& line, float* dst, int k0, int k_end) {
  constexpr int kE = kBK * L::kCols / kThreads;
  const int tid = static_cast<int>(threadIdx.x), kr = tid / L::kCols * kE;
  float* d = dst + kr * L::kStride + tid % L::kCols;
  typename Op::Step st = op.step(k0 + kr);
#pragma unroll
  for (int e = 0; e < kE; ++e) {
    const float* src = k0 + kr + e < k_end ? op.at(line, st) : nullptr;
    mma::cp_async_ca<4>(d + e * L::kStride, src ? src : op.base, src ? 4 : 0);
    if (e < kE - 1) op.next(st);
  }
}

// ---- the three passes as problems of the kernel -------------------------------------------------
// A problem gives, for block (z, m0, n0): the Block (reduction range, output), its operands A and
// B (B k-contiguous or not: kBKContig), and the epilogue's split of C (m, n) into out + row_off(m) +
// col_off(n) (-1 outside C), with bias(m) added.
struct Block {
  int g, k_begin, k_end;
  float* out;
  bool accumulate;
};

struct ForwardProblem {
  static constexpr bool kBKContig = false;
  const float* x;
  const float* w;
  const float* bias_;
  float* y;
  Geometry d;
  bool vec_w;
  __device__ Block block(int z) const { return {z, 0, d.crs, y, false}; }
  __device__ MatrixRows a(const Block& blk) const { return {w + int64_t{blk.g} * d.kg * d.crs, d.kg, d.crs, vec_w}; }
  __device__ Im2colColumns b(const Block& blk) const { return {x + int64_t{blk.g} * d.cg * d.hw, d, d.n * d.pq}; }
  __device__ int row_off(const Block& blk, int m) const { return m < d.kg ? (blk.g * d.kg + m) * d.pq : -1; }
  __device__ int col_off(int n) const {
    if (n >= d.n * d.pq) return -1;
    const int img = n / d.pq;
    return img * d.k * d.pq + (n - img * d.pq);
  }
  __device__ float bias(const Block& blk, int m) const { return bias_ ? __ldg(bias_ + blk.g * d.kg + m) : 0.0f; }
};

struct BackwardDataProblem {
  static constexpr bool kBKContig = false;
  const float* dy;
  const float* w;
  float* dx;
  Geometry d;
  __device__ Block block(int z) const { return {z, 0, d.kg * d.rs, dx, false}; }
  __device__ WeightColumns a(const Block& blk) const { return {w + int64_t{blk.g} * d.kg * d.crs, d}; }
  __device__ DyGatherColumns b(const Block& blk) const { return {dy + int64_t{blk.g} * d.kg * d.pq, d, d.n * d.hw}; }
  __device__ int row_off(const Block& blk, int m) const { return m < d.cg ? (blk.g * d.cg + m) * d.hw : -1; }
  __device__ int col_off(int n) const {
    if (n >= d.n * d.hw) return -1;
    const int img = n / d.hw;
    return img * d.c * d.hw + (n - img * d.hw);
  }
  __device__ float bias(const Block&, int) const { return 0.0f; }
};

struct BackwardFilterProblem {
  static constexpr bool kBKContig = true;
  const float* x;
  const float* dy;
  float* dw;  // splits == 1: accumulated directly
  float* ws;  // splits > 1: partial sums, (splits, K, C/G*R*S)
  Geometry d;
  int chunk, splits;
  bool vec_dy;
  __device__ Block block(int z) const {
    const int g = z / splits, split = z - g * splits, kd = d.n * d.pq;
    const int k_begin = split * chunk;
    if (splits == 1) return {g, 0, kd, dw, true};
    return {g, k_begin, min(kd, k_begin + chunk), ws + int64_t{split} * d.k * d.crs, false};
  }
  __device__ DyRows a(const Block& blk) const { return {dy + int64_t{blk.g} * d.kg * d.pq, d, vec_dy}; }
  __device__ Im2colRows b(const Block& blk) const { return {x + int64_t{blk.g} * d.cg * d.hw, d}; }
  __device__ int row_off(const Block& blk, int m) const { return m < d.kg ? (blk.g * d.kg + m) * d.crs : -1; }
  __device__ int col_off(int n) const { return n < d.crs ? n : -1; }
  __device__ float bias(const Block&, int) const { return 0.0f; }
};

template <MathPrecision P, class Prob>
struct Tiles {
  using A = mma_tile::Layout<P, true, kBM, kBK>;
  using B = mma_tile::Layout<P, Prob::kBKContig, kBN, kBK>;
  static constexpr int kBytes = kStages * (A::kFloats + B::kFloats) * 4;
  static_assert(kBytes <= 99 * 1024, "must fit the 99 KiB opt-in of sm_86/sm_89");
};

template <MathPrecision P, class Prob>
__global__ void __launch_bounds__(kThreads) conv_tc_kernel(const Prob prob) {
  using LA = typename Tiles<P, Prob>::A;
  using LB = typename Tiles<P, Prob>::B;
  KILN_DYNAMIC_SHARED(float, smem);
  float* const a_s = smem;                           // kStages A tiles
  float* const b_s = smem + kStages * LA::kFloats;  // then kStages B tiles

  const Block blk = prob.block(static_cast<int>(blockIdx.z));
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const int wm = warp / mma_tile::kWarpsN * mma_tile::kWM, wn = warp % mma_tile::kWarpsN * mma_tile::kWN;

  using OpA = decltype(prob.a(blk));
  using OpB = decltype(prob.b(blk));
  const OpA a = prob.a(blk);
  const OpB b = prob.b(blk);
  typename OpA::Line a_lines[kLinesK];
#pragma unroll
  for (int j = 0; j < kLinesK; ++j) a_lines[j] = a.line(m0 + tid / kQuads + j * kRowStep);
  constexpr int kLinesB = LB::kKContig ? kLinesK : 1;
  typename OpB::Line b_lines[kLinesB];
#pragma unroll
  for (int j = 0; j < kLinesB; ++j)
    b_lines[j] = b.line(n0 + (LB::kKContig ? tid / kQuads + j * kRowStep : tid % kBN));

  auto issue = [&](int kt, int slot) {
    const int k0 = blk.k_begin + kt * kBK;
    stage_k<LA>(a, a_lines, a_s + slot * LA::kFloats, k0, blk.k_end);
    if constexpr (LB::kKContig) stage_k<LB>(b, b_lines, b_s + slot * LB::kFloats, k0, blk.k_end);
    else stage_mn<LB>(b, b_lines[0], b_s + slot * LB::kFloats, k0, blk.k_end);
  };
  mma_tile::Acc acc;
  mma_tile::zero(acc);
  const int ktiles = blk.k_end > blk.k_begin ? (blk.k_end - blk.k_begin + kBK - 1) / kBK : 0;
  mma_tile::pipeline<kStages>(ktiles, issue, [&](int slot) {
    mma_tile::mma_ktile<P, LA, LB, kBK>(a_s + slot * LA::kFloats, b_s + slot * LB::kFloats, wm, wn, lane, acc);
  });

  // Epilogue: accumulator (i, j, r) is C (row g + 8 * (r / 2), column 2t + r % 2) of mma tile (i, j).
  const int g = lane >> 2, t = lane & 3;
  int col_off[mma_tile::kNT][2];
#pragma unroll
  for (int j = 0; j < mma_tile::kNT; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) col_off[j][e] = prob.col_off(n0 + wn + 8 * j + 2 * t + e);
#pragma unroll
  for (int i = 0; i < mma_tile::kMT; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm + 16 * i + g + 8 * h, row_off = prob.row_off(blk, m);
      if (row_off < 0) continue;
      const float bias = prob.bias(blk, m);
      float* const out = blk.out + row_off;
#pragma unroll
      for (int j = 0; j < mma_tile::kNT; ++j) {
        const float v0 = acc[i][j][2 * h] + bias, v1 = acc[i][j][2 * h + 1] + bias;
        const int c0 = col_off[j][0];
        // Columns 2t and 2t+1 adjacent in memory (same image) and 8-byte aligned: one 8-byte access
        // (a warp's store then fills whole 32-byte sectors instead of half of each, twice).
        if (c0 >= 0 && col_off[j][1] == c0 + 1 && reinterpret_cast<uintptr_t>(out + c0) % 8 == 0) {
          float2* const o2 = reinterpret_cast<float2*>(out + c0);
          if (blk.accumulate) {
            const float2 old = *o2;
            *o2 = make_float2(old.x + v0, old.y + v1);
          } else {
            *o2 = make_float2(v0, v1);
          }
          continue;
        }
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          if (col_off[j][e] < 0) continue;
          const float v = e ? v1 : v0;
          if (blk.accumulate) out[col_off[j][e]] += v;
          else out[col_off[j][e]] = v;
        }
      }
    }
}

// dw[i] += the chunks' partials ws[0][i] + ws[1][i] + ..., in chunk order.
__global__ void __launch_bounds__(kThreads) add_partials_kernel(const float* ws, int splits, int64_t size, float* dw) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < size; i += int64_t{gridDim.x} * kThreads) {
    float sum = ws[i];
    for (int sp = 1; sp < splits; ++sp) sum += ws[sp * size + i];
    dw[i] += sum;
  }
}

// The checks every v3_tc launcher makes: a tensor-core precision, an sm_80+ device, 32-bit offsets.
static void check_tc(const char* pass, const Conv2dShape& s, MathPrecision p, const Stream& stream) {
  s.validate();
  KILN_CHECK(p != MathPrecision::F32,
             "{}: tensor cores have no FP32 operands; ask for tf32, bf16 or f16 (or use the FP32 pass)", pass);
  const int major = compute_major(stream.device());
  KILN_CHECK(major >= 8,
             "{}: the tensor-core convolution needs compute capability 8.0 or later (mma.sync, cp.async); device {} "
             "is sm_{}x: use conv2d_*_rounded, which runs the FP32 kernels there",
             pass, stream.device().index, major);
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  KILN_CHECK(s.x_size() <= kMax && s.y_size() <= kMax && s.w_size() <= kMax,
             "{}: tensors of 2^31 elements or more are not supported (x {}, y {}, w {} elements); split the batch",
             pass, s.x_size(), s.y_size(), s.w_size());
}

template <MathPrecision P, class Prob>
void launch_tc(const Prob& prob, int64_t m, int64_t n, int64_t z, const Stream& stream) {
  constexpr int bytes = Tiles<P, Prob>::kBytes;
  auto* kernel = conv_tc_kernel<P, Prob>;
  if constexpr (bytes > 48 * 1024) {
    KILN_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  }
  KILN_CHECK((m + kBM - 1) / kBM <= 65535 && z <= 65535 && (n + kBN - 1) / kBN <= INT32_MAX,
             "conv2d v3_tc: GEMM view ({} x {}, {} slices) exceeds the grid limits", m, n, z);
  const dim3 grid(static_cast<unsigned>((n + kBN - 1) / kBN), static_cast<unsigned>((m + kBM - 1) / kBM),
                  static_cast<unsigned>(z));
  launch(kernel, grid, dim3(kThreads), bytes, stream, prob);
}

template <class Prob>
void launch_precision(MathPrecision p, const Prob& prob, int64_t m, int64_t n, int64_t z, const Stream& stream) {
  switch (p) {
    case MathPrecision::TF32: return launch_tc<MathPrecision::TF32>(prob, m, n, z, stream);
    case MathPrecision::BF16: return launch_tc<MathPrecision::BF16>(prob, m, n, z, stream);
    case MathPrecision::F16: return launch_tc<MathPrecision::F16>(prob, m, n, z, stream);
    case MathPrecision::F32: break;
  }
}

// Chunks of backward_filter's N*P*Q reduction: enough blocks for two waves of a 132-SM GPU, each
// chunk at least 8 k-tiles; a function of the shape only.
static int filter_splits(const Conv2dShape& s, int* chunk) {
  const int64_t tiles = ((s.k_per_group() + kBM - 1) / kBM) * ((s.crs() + kBN - 1) / kBN) * s.groups;
  const int64_t kd = int64_t{s.n} * s.p() * s.q();
  constexpr int64_t kTargetBlocks = 264, kMinChunk = 8 * kBK;
  int64_t splits = std::min((kTargetBlocks + tiles - 1) / tiles, kd / kMinChunk);
  splits = std::clamp<int64_t>(splits, 1, std::min<int64_t>(128, 65535 / s.groups));
  const int64_t c = ((kd + splits - 1) / splits + kBK - 1) / kBK * kBK;
  *chunk = static_cast<int>(c);
  return static_cast<int>((kd + c - 1) / c);
}

}  // namespace

void conv2d_forward_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* w,
                          const float* bias, float* y, const Stream& stream) {
  check_tc("conv2d_forward_v3_tc", shape, precision, stream);
  const Geometry d = geometry(shape);
  const ForwardProblem prob{x, w, bias, y, d, d.crs % 4 == 0 && aligned16(w)};
  launch_precision(precision, prob, d.kg, int64_t{d.n} * d.pq, shape.groups, stream);
}

void conv2d_backward_data_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* dy, const float* w,
                                float* dx, const Stream& stream) {
  check_tc("conv2d_backward_data_v3_tc", shape, precision, stream);
  const Geometry d = geometry(shape);
  const BackwardDataProblem prob{dy, w, dx, d};
  launch_precision(precision, prob, d.cg, int64_t{d.n} * d.hw, shape.groups, stream);
}

void conv2d_backward_filter_v3_tc(const Conv2dShape& shape, MathPrecision precision, const float* x, const float* dy,
                                  float* dw, const Stream& stream) {
  check_tc("conv2d_backward_filter_v3_tc", shape, precision, stream);
  const Geometry d = geometry(shape);
  int chunk = 0;
  const int splits = filter_splits(shape, &chunk);
  BackwardFilterProblem prob{x, dy, dw, nullptr, d, chunk, splits, d.pq % 4 == 0 && aligned16(dy)};
  if (splits == 1) return launch_precision(precision, prob, d.kg, d.crs, shape.groups, stream);
  const int64_t wsize = shape.w_size();
  Workspace::Lease lease =
      workspace_for(stream.device()).borrow(static_cast<size_t>(splits * wsize) * sizeof(float), stream);
  prob.ws = lease.as<float>();
  launch_precision(precision, prob, d.kg, d.crs, int64_t{shape.groups} * splits, stream);
  launch(add_partials_kernel, grid_blocks(wsize, kThreads), dim3(kThreads), 0, stream, prob.ws, splits, wsize, dw);
}

}  // namespace kiln::gpu
