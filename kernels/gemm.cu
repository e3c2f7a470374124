// GEMM kernels: v1 naive, v2 tiled (kernels/gemm_tile.cuh), and gemm(), which runs v2 or the cuBLAS
// path (kernels/gemm_cublas.cu). Versions and conventions: kernels/gemm.h.
#include "kernels/gemm.h"

#include <cstdint>

#include "core/stream.h"
#include "kernels/gemm_tile.cuh"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

// ---- v1: one thread per element of C (grid-stride) -------------------------------------------
constexpr int kNaiveThreads = 256;

__global__ void __launch_bounds__(kNaiveThreads)
gemm_naive_kernel(GemmShape s, const float* a, const float* b, float* c) {
  const int64_t total = s.c_size();
  for (int64_t i = blockIdx.x * int64_t{kNaiveThreads} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * kNaiveThreads) {
    const int m = static_cast<int>(i / s.n), n = static_cast<int>(i % s.n);
    float sum = 0.0f;
    for (int k = 0; k < s.k; ++k) {
      const float av = s.trans_a ? a[int64_t{k} * s.m + m] : a[int64_t{m} * s.k + k];
      const float bv = s.trans_b ? b[int64_t{n} * s.k + k] : b[int64_t{k} * s.n + n];
      sum = fmaf(av, bv, sum);
    }
    c[i] = s.beta != 0.0f ? s.alpha * sum + s.beta * c[i] : s.alpha * sum;
  }
}

// ---- v2: the tiled kernel on a plain row-major problem ----------------------------------------
// A(m, kk) is a[m*K + kk] (contiguous along kk: fast-k fetch) or, transposed, a[kk*M + m] (fast-x);
// B(kk, n) is b[kk*N + n] (fast-x) or, transposed, b[n*K + kk] (fast-k).
template <bool TA, bool TB>
struct PlainGemm {
  static constexpr bool kAFastK = !TA;
  static constexpr bool kBFastK = TB;
  const float* a;
  const float* b;
  float* c;
  int m, n, k;
  float alpha, beta;
  bool vec_a, vec_b, vec_c;  // float4 access allowed (contiguous dim % 4 == 0, 16-byte aligned)

  struct Block {
    int k_begin, k_end;
  };
  struct Line {
    const float* p;
    bool ok;
  };
  __device__ Block block(int) const { return {0, k}; }

  __device__ Line a_row(const Block&, int mi) const {
    const int mm = mi < m ? mi : 0;
    return {TA ? a + mm : a + int64_t{mm} * k, mi < m};
  }
  __device__ Line b_col(const Block&, int ni) const {
    const int nn = ni < n ? ni : 0;
    return {TB ? b + int64_t{nn} * k : b + nn, ni < n};
  }

  // v[e] = line[(kk0 + e*kstep) * stride] within [0, k); contiguous (stride 1) lines may use float4.
  template <int E>
  __device__ static void fetch(const Line& l, bool contiguous, bool vec, int64_t stride, int kk0, int kstep,
                               int kend, float (&v)[E]) {
    if constexpr (E % 4 == 0) {
      if (contiguous && vec && l.ok && kk0 + E <= kend) {  // kk0 % 4 == 0 by construction
#pragma unroll
        for (int q = 0; q < E / 4; ++q) {
          const float4 t = tile::load4(l.p + kk0 + 4 * q);
          v[4 * q + 0] = t.x;
          v[4 * q + 1] = t.y;
          v[4 * q + 2] = t.z;
          v[4 * q + 3] = t.w;
        }
        return;
      }
    }
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int kk = kk0 + e * kstep;
      v[e] = (l.ok && kk < kend) ? __ldg(l.p + kk * stride) : 0.0f;
    }
  }
  template <int E>
  __device__ void a_fetch(const Block&, const Line& l, int kk0, int kstep, float (&v)[E]) const {
    fetch(l, !TA, vec_a, TA ? int64_t{m} : 1, kk0, kstep, k, v);
  }
  template <int E>
  __device__ void b_fetch(const Block&, const Line& l, int kk0, int kstep, float (&v)[E]) const {
    fetch(l, TB, vec_b, TB ? 1 : int64_t{n}, kk0, kstep, k, v);
  }

  __device__ void store4(const Block&, int mi, int ni, const float* v) const {
    if (mi >= m || ni >= n) return;
    float* row = c + int64_t{mi} * n + ni;
    if (vec_c && ni + 4 <= n) {
      float4 o = make_float4(alpha * v[0], alpha * v[1], alpha * v[2], alpha * v[3]);
      if (beta != 0.0f) {
        const float4 old = *reinterpret_cast<const float4*>(row);
        o.x += beta * old.x;
        o.y += beta * old.y;
        o.z += beta * old.z;
        o.w += beta * old.w;
      }
      *reinterpret_cast<float4*>(row) = o;
      return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (ni + j < n) row[j] = beta != 0.0f ? alpha * v[j] + beta * row[j] : alpha * v[j];
    }
  }
};

template <class Cfg, bool TA, bool TB>
void run_tiled(const GemmShape& s, const float* a, const float* b, float* c, const Stream& stream) {
  PlainGemm<TA, TB> p{a, b, c, s.m, s.n, s.k, s.alpha, s.beta,
                      s.k % 4 == 0 && aligned16(a),
                      s.k % 4 == 0 && aligned16(b),
                      s.n % 4 == 0 && aligned16(c)};
  const dim3 grid((s.n + Cfg::BN - 1) / Cfg::BN, (s.m + Cfg::BM - 1) / Cfg::BM, 1);
  launch(tile::gemm_tile_kernel<Cfg, PlainGemm<TA, TB>>, grid, dim3(Cfg::kThreads), 0, stream, p);
}

template <class Cfg>
void run_tiled_cfg(const GemmShape& s, const float* a, const float* b, float* c, const Stream& stream) {
  if (s.trans_a) {
    if (s.trans_b) run_tiled<Cfg, true, true>(s, a, b, c, stream);
    else run_tiled<Cfg, true, false>(s, a, b, c, stream);
  } else {
    if (s.trans_b) run_tiled<Cfg, false, true>(s, a, b, c, stream);
    else run_tiled<Cfg, false, false>(s, a, b, c, stream);
  }
}

}  // namespace

void gemm_v1_naive(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream) {
  shape.validate();
  launch(gemm_naive_kernel, grid_blocks(shape.c_size(), kNaiveThreads), dim3(kNaiveThreads), 0, stream,
         shape, a, b, c);
}

void gemm_v2_tiled(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream,
                   GemmTile tile) {
  shape.validate();
  if (tile::use_big(tile, shape.m, shape.n, 1)) run_tiled_cfg<tile::Big>(shape, a, b, c, stream);
  else run_tiled_cfg<tile::Small>(shape, a, b, c, stream);
}

void gemm(const GemmShape& shape, const float* a, const float* b, float* c, const Stream& stream) {
  if (gemm_through_cublas()) gemm_cublas(shape, a, b, c, stream);
  else gemm_v2_tiled(shape, a, b, c, stream);
}

}  // namespace kiln::gpu
