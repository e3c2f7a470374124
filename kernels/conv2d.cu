// Convolution kernels: v1 naive direct, v2 implicit GEMM on kiln's SGEMM tile. The versions, the
// GEMM views of the three passes and the conventions are described in kernels/conv2d.h.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "core/stream.h"
#include "core/workspace.h"
#include "kernels/block_reduce.cuh"
#include "kernels/gemm_tile.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

// The sizes of one convolution, precomputed once on the host (no divisions to redo per element).
struct Dims {
  int n, c, h, w, k, r, s, p, q;
  int sh, sw, ph, pw, dh, dw;
  int g, cg, kg;
  int rs, crs, hw, pq;
};

static Dims dims_of(const Conv2dShape& s) {
  Dims d{};
  d.n = s.n, d.c = s.c, d.h = s.h, d.w = s.w, d.k = s.k, d.r = s.r, d.s = s.s, d.p = s.p(), d.q = s.q();
  d.sh = s.stride_h, d.sw = s.stride_w, d.ph = s.pad_h, d.pw = s.pad_w, d.dh = s.dilation_h, d.dw = s.dilation_w;
  d.g = s.groups, d.cg = s.c_per_group(), d.kg = s.k_per_group();
  d.rs = s.r * s.s, d.crs = static_cast<int>(s.crs()), d.hw = s.h * s.w, d.pq = d.p * d.q;
  return d;
}

// Sizes kiln's 32-bit indexing supports: every tensor under 2^31 elements (element offsets inside
// one tensor are then int; 64-bit division is a slow subroutine call on the GPU).
static void check_limits(const Conv2dShape& s) {
  s.validate();
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  KILN_CHECK(s.x_size() <= kMax && s.y_size() <= kMax && s.w_size() <= kMax,
             "conv2d: tensors of 2^31 elements or more are not supported by the GPU kernels (x {}, y {}, w {} "
             "elements); split the batch",
             s.x_size(), s.y_size(), s.w_size());
}

constexpr int kThreads = 256;

// ---- v1: naive direct kernels, one thread per output element, grid-stride --------------------
__global__ void __launch_bounds__(kThreads)
forward_naive_kernel(Dims d, const float* x, const float* w, const float* bias, float* y) {
  const int64_t total = int64_t{d.n} * d.k * d.pq;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int li = static_cast<int>(i);
    const int q = li % d.q, p = (li / d.q) % d.p, k = (li / d.pq) % d.k, n = li / (d.pq * d.k);
    const int g = k / d.kg;
    float sum = 0.0f;
    for (int c = 0; c < d.cg; ++c) {
      const float* xc = x + (int64_t{n} * d.c + g * d.cg + c) * d.hw;
      const float* wc = w + (int64_t{k} * d.cg + c) * d.rs;
      for (int r = 0; r < d.r; ++r) {
        const int h = p * d.sh - d.ph + r * d.dh;
        if (h < 0 || h >= d.h) continue;
        for (int s = 0; s < d.s; ++s) {
          const int ww = q * d.sw - d.pw + s * d.dw;
          if (ww < 0 || ww >= d.w) continue;
          sum = fmaf(xc[h * d.w + ww], wc[r * d.s + s], sum);
        }
      }
    }
    y[i] = sum + (bias ? bias[k] : 0.0f);
  }
}

__global__ void __launch_bounds__(kThreads)
backward_data_naive_kernel(Dims d, const float* dy, const float* w, float* dx) {
  const int64_t total = int64_t{d.n} * d.c * d.hw;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int li = static_cast<int>(i);
    const int ww = li % d.w, h = (li / d.w) % d.h, c = (li / d.hw) % d.c, n = li / (d.hw * d.c);
    const int g = c / d.cg, cc = c - g * d.cg;
    float sum = 0.0f;
    for (int k = g * d.kg; k < (g + 1) * d.kg; ++k) {
      const float* dyk = dy + (int64_t{n} * d.k + k) * d.pq;
      const float* wk = w + (int64_t{k} * d.cg + cc) * d.rs;
      for (int r = 0; r < d.r; ++r) {
        const int th = h + d.ph - r * d.dh;  // = p * stride_h for the output row p that tap r reads h from
        if (th < 0 || th % d.sh != 0 || th / d.sh >= d.p) continue;
        for (int s = 0; s < d.s; ++s) {
          const int tw = ww + d.pw - s * d.dw;
          if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.q) continue;
          sum = fmaf(dyk[(th / d.sh) * d.q + tw / d.sw], wk[r * d.s + s], sum);
        }
      }
    }
    dx[i] = sum;
  }
}

__global__ void __launch_bounds__(kThreads)
backward_filter_naive_kernel(Dims d, const float* x, const float* dy, float* dw) {
  const int64_t total = int64_t{d.k} * d.crs;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int li = static_cast<int>(i);
    const int s = li % d.s, r = (li / d.s) % d.r, cc = (li / d.rs) % d.cg, k = li / d.crs;
    const int c = (k / d.kg) * d.cg + cc;
    float sum = 0.0f;
    // (Loops kept rolled: ptxas otherwise trades registers for unrolling and spills at sm_80.)
#pragma unroll 1
    for (int n = 0; n < d.n; ++n) {
      const float* xc = x + (int64_t{n} * d.c + c) * d.hw;
      const float* dyk = dy + (int64_t{n} * d.k + k) * d.pq;
#pragma unroll 1
      for (int p = 0; p < d.p; ++p) {
        const int h = p * d.sh - d.ph + r * d.dh;
        if (h < 0 || h >= d.h) continue;
#pragma unroll 1
        for (int q = 0; q < d.q; ++q) {
          const int ww = q * d.sw - d.pw + s * d.dw;
          if (ww < 0 || ww >= d.w) continue;
          sum = fmaf(dyk[p * d.q + q], xc[h * d.w + ww], sum);
        }
      }
    }
    dw[i] += sum;
  }
}

__global__ void __launch_bounds__(kThreads) backward_bias_naive_kernel(Dims d, const float* dy, float* db) {
  for (int k = blockIdx.x * kThreads + threadIdx.x; k < d.k; k += gridDim.x * kThreads) {
    float sum = 0.0f;
    for (int n = 0; n < d.n; ++n) {
      const float* dyk = dy + (int64_t{n} * d.k + k) * d.pq;
      for (int i = 0; i < d.pq; ++i) sum += dyk[i];
    }
    db[k] += sum;
  }
}

// ---- v2: implicit GEMM problems for gemm_tile.cuh ---------------------------------------------
// v[e] = p[kk0 + e*kstep] for kk < kend (0 past it or when !ok); float4 when allowed.
template <int E>
__device__ __forceinline__ void contiguous_fetch(const float* p, bool ok, bool vec, int kk0, int kstep, int kend,
                                                 float (&v)[E]) {
  if constexpr (E % 4 == 0) {
    if (vec && ok && kstep == 1 && kk0 + E <= kend) {  // kk0 % 4 == 0 by construction
#pragma unroll
      for (int i = 0; i < E / 4; ++i) {
        const float4 t = tile::load4(p + kk0 + 4 * i);
        v[4 * i + 0] = t.x;
        v[4 * i + 1] = t.y;
        v[4 * i + 2] = t.z;
        v[4 * i + 3] = t.w;
      }
      return;
    }
  }
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const int kk = kk0 + e * kstep;
    v[e] = (ok && kk < kend) ? __ldg(p + kk) : 0.0f;
  }
}

// Forward, per group g: Y_g (K/G x N*P*Q) = W_g (K/G x C/G*R*S) * im2col(x)_g, gathered on the fly.
struct ForwardProblem {
  static constexpr bool kAFastK = true;   // weights rows are contiguous along (c, r, s)
  static constexpr bool kBFastK = false;  // consecutive threads take consecutive output pixels
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  Dims d;
  int ntot;  // N*P*Q
  bool vec_w;

  struct Block {
    int k_begin, k_end, g;
  };
  struct ARow {
    const float* p;
    bool ok;
  };
  struct BCol {
    const float* p;  // x at (n, first channel of the group)
    int h0, w0;      // top-left tap of the output pixel
    bool ok;
  };
  __device__ Block block(int z) const { return {0, d.crs, z}; }
  __device__ ARow a_row(const Block& b, int m) const {
    const bool ok = m < d.kg;
    return {w + int64_t{b.g * d.kg + (ok ? m : 0)} * d.crs, ok};
  }
  template <int E>
  __device__ void a_fetch(const Block& b, const ARow& r, int kk0, int kstep, float (&v)[E]) const {
    contiguous_fetch(r.p, r.ok, vec_w, kk0, kstep, b.k_end, v);
  }
  __device__ BCol b_col(const Block& b, int n) const {
    const bool ok = n < ntot;
    const int nn = ok ? n : 0;
    const int img = nn / d.pq, pq = nn - img * d.pq;
    const int p = pq / d.q, q = pq - p * d.q;
    return {x + (int64_t{img} * d.c + b.g * d.cg) * d.hw, p * d.sh - d.ph, q * d.sw - d.pw, ok};
  }
  template <int E>
  __device__ void b_fetch(const Block& b, const BCol& col, int kk0, int kstep, float (&v)[E]) const {
    int c = kk0 / d.rs, rs = kk0 - c * d.rs;
    int r = rs / d.s, s = rs - r * d.s;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float val = 0.0f;
      if (col.ok && kk0 + e * kstep < b.k_end) {
        const int h = col.h0 + r * d.dh, ww = col.w0 + s * d.dw;
        if (static_cast<unsigned>(h) < static_cast<unsigned>(d.h) && static_cast<unsigned>(ww) < static_cast<unsigned>(d.w))
          val = __ldg(col.p + int64_t{c} * d.hw + h * d.w + ww);
      }
      v[e] = val;
      s += kstep;
      while (s >= d.s) {
        s -= d.s;
        if (++r == d.r) r = 0, ++c;
      }
    }
  }
  __device__ void store4(const Block& b, int m, int n, const float* v) const {
    if (m >= d.kg || n >= ntot) return;
    const int k = b.g * d.kg + m;
    const float bv = bias ? __ldg(bias + k) : 0.0f;
    const int img = n / d.pq;
    int pq = n - img * d.pq;
    float* yk = y + (int64_t{img} * d.k + k) * d.pq;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (n + j >= ntot) break;
      yk[pq] = v[j] + bv;
      if (++pq == d.pq) pq = 0, yk += int64_t{d.k} * d.pq;
    }
  }
};

// wt[g, c, k, r, s] = w[g*K/G + k, c, r, s]: the weights with each group's (k, c) swapped, so that
// the backward-data GEMM's rows (c) are contiguous along its reduction (k, r, s). Read in place,
// w^T's rows are R*S floats long and 32 lanes on 32 rows touch 32 sectors per request
// (kiln_access_report); the copy costs one pass over the weights.
__global__ void __launch_bounds__(kThreads) transpose_weights_kernel(Dims d, const float* w, float* wt) {
  const int64_t size = int64_t{d.k} * d.crs;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < size; i += int64_t{gridDim.x} * kThreads) {
    const int rs = static_cast<int>(i % d.rs);
    int64_t t = i / d.rs;
    const int k = static_cast<int>(t % d.kg);
    t /= d.kg;
    const int c = static_cast<int>(t % d.cg), g = static_cast<int>(t / d.cg);
    wt[i] = __ldg(w + (int64_t{g * d.kg + k} * d.cg + c) * d.rs + rs);
  }
}

// Backward data, per group g: dX_g (C/G x N*H*W) = W_g^T (C/G x K/G*R*S) * gather(dy)_g, where
// gather(dy)[(k, r, s), (n, h, w)] = dy[n, k, p, q] if h + pad_h - r*dil_h = p*stride_h (p in
// range) and likewise for w, else 0.
struct BackwardDataProblem {
  static constexpr bool kAFastK = true;   // wt[g, c, k, r, s] is contiguous along (k, r, s)
  static constexpr bool kBFastK = false;  // consecutive threads take consecutive input pixels
  const float* dy;
  const float* wt;  // transpose_weights_kernel's copy of w
  float* dx;
  Dims d;
  int ntot;  // N*H*W
  int kd;    // K/G*R*S
  bool vec_w;

  struct Block {
    int k_begin, k_end, g;
  };
  struct ARow {
    const float* p;
    bool ok;
  };
  struct BCol {
    const float* p;  // dy at (n, first channel of the group)
    int hp, wp;      // h + pad_h, w + pad_w
    bool ok;
  };
  __device__ Block block(int z) const { return {0, kd, z}; }
  __device__ ARow a_row(const Block& b, int m) const {
    const bool ok = m < d.cg;
    return {wt + (int64_t{b.g} * d.cg + (ok ? m : 0)) * kd, ok};
  }
  template <int E>
  __device__ void a_fetch(const Block& b, const ARow& row, int kk0, int kstep, float (&v)[E]) const {
    contiguous_fetch(row.p, row.ok, vec_w, kk0, kstep, b.k_end, v);
  }
  __device__ BCol b_col(const Block& b, int n) const {
    const bool ok = n < ntot;
    const int nn = ok ? n : 0;
    const int img = nn / d.hw, hw = nn - img * d.hw;
    const int h = hw / d.w, ww = hw - h * d.w;
    return {dy + (int64_t{img} * d.k + b.g * d.kg) * d.pq, h + d.ph, ww + d.pw, ok};
  }
  template <int E>
  __device__ void b_fetch(const Block& b, const BCol& col, int kk0, int kstep, float (&v)[E]) const {
    int k = kk0 / d.rs, rs = kk0 - k * d.rs;
    int r = rs / d.s, s = rs - r * d.s;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float val = 0.0f;
      if (col.ok && kk0 + e * kstep < b.k_end) {
        const int th = col.hp - r * d.dh, tw = col.wp - s * d.dw;
        if (th >= 0 && tw >= 0) {
          const int p = th / d.sh, q = tw / d.sw;
          if (p * d.sh == th && q * d.sw == tw && p < d.p && q < d.q)
            val = __ldg(col.p + int64_t{k} * d.pq + p * d.q + q);
        }
      }
      v[e] = val;
      s += kstep;
      while (s >= d.s) {
        s -= d.s;
        if (++r == d.r) r = 0, ++k;
      }
    }
  }
  __device__ void store4(const Block& b, int m, int n, const float* v) const {
    if (m >= d.cg || n >= ntot) return;
    const int img = n / d.hw;
    int hw = n - img * d.hw;
    float* xc = dx + (int64_t{img} * d.c + b.g * d.cg + m) * d.hw;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (n + j >= ntot) break;
      xc[hw] = v[j];
      if (++hw == d.hw) hw = 0, xc += int64_t{d.c} * d.hw;
    }
  }
};

// Backward filter, per group g and reduction chunk: dW_g (K/G x C/G*R*S) += dY_g (K/G x N*P*Q) *
// im2col(x)_g^T, the N*P*Q reduction cut into `splits` chunks of `chunk` (a multiple of the k-tile).
struct BackwardFilterProblem {
  static constexpr bool kAFastK = true;  // dy rows are contiguous along (p, q) within an image
  static constexpr bool kBFastK = true;  // consecutive reduction steps are consecutive pixels
  const float* x;
  const float* dy;
  float* dw;  // splits == 1: accumulated directly
  float* ws;  // splits > 1: partial sums, (splits, K, C/G*R*S)
  Dims d;
  int kd;  // N*P*Q
  int chunk, splits;
  bool vec_dy;

  struct Block {
    int k_begin, k_end, g, split;
  };
  struct ARow {
    const float* p;  // dy at (n = 0, k)
    bool ok;
  };
  struct BCol {
    const float* p;  // x at (n = 0, c)
    int roff, soff;  // r*dil_h - pad_h, s*dil_w - pad_w
    bool ok;
  };
  __device__ Block block(int z) const {
    const int g = z / splits, split = z - g * splits;
    const int k_begin = split * chunk;
    return {k_begin, kd < k_begin + chunk ? kd : k_begin + chunk, g, split};
  }
  __device__ ARow a_row(const Block& b, int m) const {
    const bool ok = m < d.kg;
    return {dy + int64_t{b.g * d.kg + (ok ? m : 0)} * d.pq, ok};
  }
  template <int E>
  __device__ void a_fetch(const Block& b, const ARow& row, int j0, int kstep, float (&v)[E]) const {
    const int64_t image_stride = int64_t{d.k} * d.pq;
    if constexpr (E % 4 == 0) {
      // pq % 4 == 0 and j0 % 4 == 0: each aligned run of 4 stays inside one image.
      if (vec_dy && row.ok && kstep == 1 && j0 + E <= b.k_end) {
#pragma unroll
        for (int i = 0; i < E / 4; ++i) {
          const int j = j0 + 4 * i, img = j / d.pq;
          const float4 t = tile::load4(row.p + img * image_stride + (j - img * d.pq));
          v[4 * i + 0] = t.x;
          v[4 * i + 1] = t.y;
          v[4 * i + 2] = t.z;
          v[4 * i + 3] = t.w;
        }
        return;
      }
    }
    int img = j0 / d.pq, pq = j0 - img * d.pq;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[e] = (row.ok && j0 + e * kstep < b.k_end) ? __ldg(row.p + img * image_stride + pq) : 0.0f;
      pq += kstep;
      while (pq >= d.pq) pq -= d.pq, ++img;
    }
  }
  __device__ BCol b_col(const Block& b, int n) const {
    const bool ok = n < d.crs;
    const int nn = ok ? n : 0;
    const int c = nn / d.rs, rs = nn - c * d.rs;
    const int r = rs / d.s, s = rs - r * d.s;
    return {x + int64_t{b.g * d.cg + c} * d.hw, r * d.dh - d.ph, s * d.dw - d.pw, ok};
  }
  template <int E>
  __device__ void b_fetch(const Block& b, const BCol& col, int j0, int kstep, float (&v)[E]) const {
    const int64_t image_stride = int64_t{d.c} * d.hw;
    int img = j0 / d.pq, pq = j0 - img * d.pq;
    int p = pq / d.q, q = pq - p * d.q;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float val = 0.0f;
      if (col.ok && j0 + e * kstep < b.k_end) {
        const int h = p * d.sh + col.roff, ww = q * d.sw + col.soff;
        if (static_cast<unsigned>(h) < static_cast<unsigned>(d.h) && static_cast<unsigned>(ww) < static_cast<unsigned>(d.w))
          val = __ldg(col.p + img * image_stride + h * d.w + ww);
      }
      v[e] = val;
      q += kstep;
      while (q >= d.q) {
        q -= d.q;
        if (++p == d.p) p = 0, ++img;
      }
    }
  }
  __device__ void store4(const Block& b, int m, int n, const float* v) const {
    if (m >= d.kg || n >= d.crs) return;
    const int64_t off = int64_t{b.g * d.kg + m} * d.crs + n;
    if (splits == 1) {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (n + j < d.crs) dw[off + j] += v[j];
    } else {
      float* o = ws + int64_t{b.split} * d.k * d.crs + off;
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (n + j < d.crs) o[j] = v[j];
    }
  }
};

// dw[i] += sum over chunks in order of ws[chunk][i].
__global__ void __launch_bounds__(kThreads)
filter_reduce_kernel(const float* ws, int splits, int64_t size, float* dw) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < size; i += int64_t{gridDim.x} * kThreads) {
    float sum = 0.0f;
    for (int sp = 0; sp < splits; ++sp) sum += ws[sp * size + i];
    dw[i] += sum;
  }
}

// db[k] += sum_{n,p,q} dy[n,k,p,q]: one block per channel (grid-stride over channels), each thread
// a fixed strided subset of the N*P*Q values, then a fixed-order block reduction.
__global__ void __launch_bounds__(kThreads) backward_bias_kernel(Dims d, const float* dy, float* db) {
  const int total = d.n * d.pq;
  for (int k = blockIdx.x; k < d.k; k += gridDim.x) {
    float sum = 0.0f;
    int img = static_cast<int>(threadIdx.x) / d.pq, pq = static_cast<int>(threadIdx.x) - img * d.pq;
    for (int j = threadIdx.x; j < total; j += kThreads) {
      sum += __ldg(dy + (int64_t{img} * d.k + k) * d.pq + pq);
      pq += kThreads;
      while (pq >= d.pq) pq -= d.pq, ++img;
    }
    sum = detail::block_sum<kThreads>(sum);
    if (threadIdx.x == 0) db[k] += sum;
  }
}

template <class Cfg, class P>
void launch_tiles(const P& prob, int64_t m, int64_t n, int z, const Stream& stream) {
  KILN_CHECK((m + Cfg::BM - 1) / Cfg::BM <= 65535 && z <= 65535,
             "conv2d: GEMM view ({} x {}, {} slices) exceeds the grid limits", m, n, z);
  const dim3 grid(static_cast<unsigned>((n + Cfg::BN - 1) / Cfg::BN), static_cast<unsigned>((m + Cfg::BM - 1) / Cfg::BM),
                  static_cast<unsigned>(z));
  launch(tile::gemm_tile_kernel<Cfg, P>, grid, dim3(Cfg::kThreads), 0, stream, prob);
}

static bool filter_big(const Conv2dShape& s, GemmTile tile) {
  if (tile != GemmTile::Auto) return tile == GemmTile::T128;
  return s.k_per_group() >= 96 && s.crs() >= 96;
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------------
void conv2d_forward_v1(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                       const Stream& stream) {
  check_limits(shape);
  launch(forward_naive_kernel, grid_blocks(shape.y_size(), kThreads), dim3(kThreads), 0, stream, dims_of(shape), x,
         w, bias, y);
}

void conv2d_backward_data_v1(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                             const Stream& stream) {
  check_limits(shape);
  launch(backward_data_naive_kernel, grid_blocks(shape.x_size(), kThreads), dim3(kThreads), 0, stream,
         dims_of(shape), dy, w, dx);
}

void conv2d_backward_filter_v1(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                               const Stream& stream) {
  check_limits(shape);
  launch(backward_filter_naive_kernel, grid_blocks(shape.w_size(), kThreads), dim3(kThreads), 0, stream,
         dims_of(shape), x, dy, dw);
}

void conv2d_backward_bias_v1(const Conv2dShape& shape, const float* dy, float* db, const Stream& stream) {
  check_limits(shape);
  launch(backward_bias_naive_kernel, grid_blocks(shape.k, kThreads), dim3(kThreads), 0, stream, dims_of(shape), dy,
         db);
}

void conv2d_forward_v2(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                       const Stream& stream, GemmTile tile) {
  check_limits(shape);
  const Dims d = dims_of(shape);
  const ForwardProblem prob{x, w, bias, y, d, d.n * d.pq, d.crs % 4 == 0 && aligned16(w)};
  if (tile::use_big(tile, d.kg, prob.ntot, d.g)) launch_tiles<tile::Big>(prob, d.kg, prob.ntot, d.g, stream);
  else launch_tiles<tile::Small>(prob, d.kg, prob.ntot, d.g, stream);
}

void conv2d_backward_data_v2(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                             const Stream& stream, GemmTile tile) {
  check_limits(shape);
  const Dims d = dims_of(shape);
  const int64_t wsize = shape.w_size();
  Workspace::Lease lease = workspace_for(stream.device()).borrow(static_cast<size_t>(wsize) * sizeof(float), stream);
  float* wt = lease.as<float>();
  launch(transpose_weights_kernel, grid_blocks(wsize, kThreads), dim3(kThreads), 0, stream, d, w, wt);
  const int kd = d.kg * d.rs;
  const BackwardDataProblem prob{dy, wt, dx, d, d.n * d.hw, kd, kd % 4 == 0 && aligned16(wt)};
  if (tile::use_big(tile, d.cg, prob.ntot, d.g)) launch_tiles<tile::Big>(prob, d.cg, prob.ntot, d.g, stream);
  else launch_tiles<tile::Small>(prob, d.cg, prob.ntot, d.g, stream);
}

int conv2d_backward_filter_splits(const Conv2dShape& shape, GemmTile tile) {
  const int64_t tm = filter_big(shape, tile) ? 128 : 64;
  const int64_t tiles = ((shape.k_per_group() + tm - 1) / tm) * ((shape.crs() + tm - 1) / tm) * shape.groups;
  const int64_t kd = int64_t{shape.n} * shape.p() * shape.q();
  constexpr int64_t kTargetBlocks = 264;  // two waves of blocks on a 132-SM GPU
  constexpr int64_t kMinChunk = 64;       // reduction steps per chunk: 8 k-tiles at least
  int64_t splits = std::min((kTargetBlocks + tiles - 1) / tiles, kd / kMinChunk);
  splits = std::clamp<int64_t>(splits, 1, std::min<int64_t>(128, 65535 / shape.groups));
  const int64_t chunk = ((kd + splits - 1) / splits + 7) / 8 * 8;
  return static_cast<int>((kd + chunk - 1) / chunk);
}

void conv2d_backward_filter_v2(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                               const Stream& stream, GemmTile tile) {
  check_limits(shape);
  const Dims d = dims_of(shape);
  const int kd = d.n * d.pq;
  const int splits = conv2d_backward_filter_splits(shape, tile);
  const int chunk = ((kd + splits - 1) / splits + 7) / 8 * 8;
  BackwardFilterProblem prob{x, dy, dw, nullptr, d, kd, chunk, splits, d.pq % 4 == 0 && aligned16(dy)};
  const bool big = filter_big(shape, tile);
  if (splits == 1) {
    if (big) launch_tiles<tile::Big>(prob, d.kg, d.crs, d.g, stream);
    else launch_tiles<tile::Small>(prob, d.kg, d.crs, d.g, stream);
    return;
  }
  const int64_t wsize = shape.w_size();
  Workspace::Lease lease = workspace_for(stream.device()).borrow(static_cast<size_t>(splits * wsize) * sizeof(float), stream);
  prob.ws = lease.as<float>();
  if (big) launch_tiles<tile::Big>(prob, d.kg, d.crs, d.g * splits, stream);
  else launch_tiles<tile::Small>(prob, d.kg, d.crs, d.g * splits, stream);
  launch(filter_reduce_kernel, grid_blocks(wsize, kThreads), dim3(kThreads), 0, stream, prob.ws, splits, wsize, dw);
}

void conv2d_backward_bias_v2(const Conv2dShape& shape, const float* dy, float* db, const Stream& stream) {
  check_limits(shape);
  launch(backward_bias_kernel, grid_blocks(shape.k, 1, 65535), dim3(kThreads), 0, stream, dims_of(shape), dy, db);
}

// ---- the best versions ----------------------------------------------------------------------
void conv2d_forward(const Conv2dShape& shape, const float* x, const float* w, const float* bias, float* y,
                    const Stream& stream) {
  conv2d_forward_v2(shape, x, w, bias, y, stream);
}
void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* w, float* dx, const Stream& stream) {
  conv2d_backward_data_v2(shape, dy, w, dx, stream);
}
void conv2d_backward_filter(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                            const Stream& stream) {
  conv2d_backward_filter_v2(shape, x, dy, dw, stream);
}
void conv2d_backward_bias(const Conv2dShape& shape, const float* dy, float* db, const Stream& stream) {
  conv2d_backward_bias_v2(shape, dy, db, stream);
}

}  // namespace kiln::gpu
