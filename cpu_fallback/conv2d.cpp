// CPU convolution: im2col + OpenBLAS SGEMM (Caffe's scheme) over blocks of images, OpenMP over
// the blocks.
//
// The batch is cut into blocks of B images (B from the shape only: as many as keep the column
// buffer under kColBudget floats, and at most ceil(N/8) so that there are blocks for every
// thread). Per block and group g (Kg = K/G, Cg = C/G, PQ = P*Q, the block's B*PQ columns side by
// side):
//   forward          Yb (Kg, B*PQ)     = W[g] (Kg, Cg*R*S) x col (Cg*R*S, B*PQ), scattered to
//                                        y[n, g*Kg + k] with the bias added
//   backward_data    col (Cg*R*S, B*PQ) = W[g]^T x dYb (Kg, B*PQ);  dx[n,g] = col2im(col)
//   backward_filter  dW[g] (Kg, Cg*R*S) += dYb (Kg, B*PQ) x col^T
// One GEMM per block instead of one per image: small convolutions (LeNet's 20x576x25 and
// 50x64x500 per image) become products OpenBLAS runs near its peak. With B = 1 the GEMMs read
// and write y, dy directly (no gather/scatter). A 1x1 convolution with stride 1 and no padding
// uses x (and dx) as the column matrix directly (B = 1).
//
// Threading: blocks run on OpenMP threads (single-threaded OpenBLAS inside, see
// cpu_fallback/parallel.h); with one block, the block's GEMMs are cut into pieces that run on the
// threads instead (detail::sgemm). Column buffers are per-thread scratch memory kept between calls.
// Every result is the same bits for any thread count: the blocks, GEMM pieces and the filter
// gradient's partial sums (min(blocks, 8) fixed chunks, added in order) depend on the shape only.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_fallback/parallel.h"

namespace kiln::cpu {
namespace {

// The q in [0, count) for which start + q*stride lies in [0, limit): [lo, hi).
inline void valid_range(int start, int stride, int limit, int count, int& lo, int& hi) {
  lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
  hi = start >= limit ? 0 : (limit - 1 - start) / stride + 1;
  lo = std::min(lo, count);
  hi = std::min(hi, count);
  if (hi < lo) hi = lo;
}

bool is_pointwise(const Conv2dShape& s) {
  return s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// col (Cg*R*S rows of leading dimension ld, P*Q used per row) from x (Cg, H, W) of one image and
// group: row (c, r, t) holds x[c, p*stride + r*dil - pad, q*stride + t*dil - pad] (0 outside).
void im2col(const Conv2dShape& s, const float* x, float* col, int64_t ld) {
  const int P = s.p(), Q = s.q(), Cg = s.c_per_group();
  for (int c = 0; c < Cg; ++c) {
    const float* xc = x + static_cast<int64_t>(c) * s.h * s.w;  // (H, W)
    for (int r = 0; r < s.r; ++r) {
      for (int t = 0; t < s.s; ++t) {
        float* dst = col + ((static_cast<int64_t>(c) * s.r + r) * s.s + t) * ld;  // (P, Q)
        const int h_off = r * s.dilation_h - s.pad_h, w_off = t * s.dilation_w - s.pad_w;
        int q_lo, q_hi;
        valid_range(w_off, s.stride_w, s.w, Q, q_lo, q_hi);
        for (int p = 0; p < P; ++p) {
          float* d = dst + static_cast<int64_t>(p) * Q;
          const int ih = p * s.stride_h + h_off;
          if (ih < 0 || ih >= s.h) {
            std::memset(d, 0, sizeof(float) * Q);
            continue;
          }
          const float* src = xc + static_cast<int64_t>(ih) * s.w + w_off;
          for (int q = 0; q < q_lo; ++q) d[q] = 0.0f;
          if (s.stride_w == 1) {
            // A plain loop, not memcpy: rows are short (LeNet's conv2: 8 floats), a call each costs more.
            for (int q = q_lo; q < q_hi; ++q) d[q] = src[q];
          } else {
            for (int q = q_lo; q < q_hi; ++q) d[q] = src[static_cast<int64_t>(q) * s.stride_w];
          }
          for (int q = q_hi; q < Q; ++q) d[q] = 0.0f;
        }
      }
    }
  }
}

// dx (Cg, H, W) = col2im(col) (rows of leading dimension ld): dx must be zero on entry; taps add
// in a fixed order.
void col2im(const Conv2dShape& s, const float* col, int64_t ld, float* dx) {
  const int P = s.p(), Q = s.q(), Cg = s.c_per_group();
  for (int c = 0; c < Cg; ++c) {
    float* dxc = dx + static_cast<int64_t>(c) * s.h * s.w;
    for (int r = 0; r < s.r; ++r) {
      for (int t = 0; t < s.s; ++t) {
        const float* src = col + ((static_cast<int64_t>(c) * s.r + r) * s.s + t) * ld;
        const int h_off = r * s.dilation_h - s.pad_h, w_off = t * s.dilation_w - s.pad_w;
        int q_lo, q_hi;
        valid_range(w_off, s.stride_w, s.w, Q, q_lo, q_hi);
        for (int p = 0; p < P; ++p) {
          const int ih = p * s.stride_h + h_off;
          if (ih < 0 || ih >= s.h) continue;
          const float* sp = src + static_cast<int64_t>(p) * Q;
          float* d = dxc + static_cast<int64_t>(ih) * s.w + w_off;
          if (s.stride_w == 1) {
            for (int q = q_lo; q < q_hi; ++q) d[q] += sp[q];
          } else {
            for (int q = q_lo; q < q_hi; ++q) d[static_cast<int64_t>(q) * s.stride_w] += sp[q];
          }
        }
      }
    }
  }
}

// Column floats per block, the budget that sets the block size (16 MiB).
constexpr int64_t kColBudget = int64_t{1} << 22;
// Below this many flops a convolution runs on the calling thread: an OpenMP region costs more
// than it saves, and on a loaded machine a fork/join can cost a scheduler time slice.
constexpr int64_t kParallelFlops = int64_t{1} << 21;

// The blocking of a shape's batch (depends on the shape only).
struct Blocks {
  int images = 1;  // B, images per block
  int count = 1;   // number of blocks
  int64_t pq = 1, crs = 1, cols = 1;  // P*Q, Cg*R*S, B*P*Q
  bool pointwise = false;
  int block_size(int b, int n) const { return std::min(images, n - b * images); }
};

Blocks blocks_of(const Conv2dShape& s) {
  Blocks b;
  b.pq = static_cast<int64_t>(s.p()) * s.q();
  b.crs = s.crs();
  b.pointwise = is_pointwise(s);
  const int64_t per_image = std::max<int64_t>(b.crs * b.pq, 1);
  int64_t images = b.pointwise ? 1 : std::max<int64_t>(1, kColBudget / per_image);
  images = std::min<int64_t>(images, (s.n + 7) / 8);  // at least min(N, 8) blocks
  b.images = static_cast<int>(std::max<int64_t>(images, 1));
  b.count = (s.n + b.images - 1) / b.images;
  b.cols = b.images * b.pq;
  return b;
}

bool run_parallel(const Conv2dShape& s, const Blocks& b) {
  return b.count >= 2 && s.flops() >= kParallelFlops;
}

// y for images [n0, n0+nb) of the block.
void forward_block(const Conv2dShape& s, const Blocks& bl, int n0, int nb, const float* x, const float* w,
                   const float* bias, float* y) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = bl.pq, CRS = bl.crs, HW = static_cast<int64_t>(s.h) * s.w;
  const int64_t x_img = static_cast<int64_t>(s.c) * HW, y_img = static_cast<int64_t>(s.k) * PQ;
  const int64_t cols = nb * PQ;
  float* col = bl.pointwise ? nullptr : detail::scratch(0, static_cast<size_t>(CRS * cols));
  float* out = nb > 1 ? detail::scratch(1, static_cast<size_t>(Kg * cols)) : nullptr;
  for (int g = 0; g < G; ++g) {
    const float* wg = w + g * Kg * CRS;  // (Kg, Cg*R*S)
    const float* colg = col;
    if (bl.pointwise) {
      colg = x + n0 * x_img + g * Cg * HW;  // nb == 1
    } else {
      for (int i = 0; i < nb; ++i) im2col(s, x + (n0 + i) * x_img + g * Cg * HW, col + i * PQ, cols);
    }
    if (nb == 1) {
      float* yg = y + n0 * y_img + g * Kg * PQ;  // (Kg, P*Q)
      float beta = 0.0f;
      if (bias) {
        for (int k = 0; k < Kg; ++k) std::fill(yg + k * PQ, yg + (k + 1) * PQ, bias[g * Kg + k]);
        beta = 1.0f;
      }
      detail::sgemm(false, false, Kg, static_cast<int>(PQ), static_cast<int>(CRS), 1.0f, wg, static_cast<int>(CRS),
                    colg, static_cast<int>(PQ), beta, yg, static_cast<int>(PQ));
      continue;
    }
    detail::sgemm(false, false, Kg, static_cast<int>(cols), static_cast<int>(CRS), 1.0f, wg, static_cast<int>(CRS),
                  colg, static_cast<int>(cols), 0.0f, out, static_cast<int>(cols));
    for (int i = 0; i < nb; ++i) {
      for (int k = 0; k < Kg; ++k) {
        const float* src = out + k * cols + i * PQ;
        float* dst = y + (n0 + i) * y_img + (g * Kg + k) * PQ;
        const float b = bias ? bias[g * Kg + k] : 0.0f;
        for (int64_t j = 0; j < PQ; ++j) dst[j] = src[j] + b;
      }
    }
  }
}

// The block's dy of group g as (Kg, nb*PQ): dy itself when nb == 1, else gathered into scratch slot 1.
const float* gather_dy(const Conv2dShape& s, const Blocks& bl, int n0, int nb, int g, const float* dy) {
  const int Kg = s.k_per_group();
  const int64_t PQ = bl.pq, y_img = static_cast<int64_t>(s.k) * PQ, cols = nb * PQ;
  if (nb == 1) return dy + n0 * y_img + g * Kg * PQ;
  float* dyb = detail::scratch(1, static_cast<size_t>(Kg * cols));
  for (int k = 0; k < Kg; ++k)
    for (int i = 0; i < nb; ++i)
      std::memcpy(dyb + k * cols + i * PQ, dy + (n0 + i) * y_img + (g * Kg + k) * PQ, sizeof(float) * PQ);
  return dyb;
}

void backward_data_block(const Conv2dShape& s, const Blocks& bl, int n0, int nb, const float* dy, const float* w,
                         float* dx) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = bl.pq, CRS = bl.crs, HW = static_cast<int64_t>(s.h) * s.w;
  const int64_t x_img = static_cast<int64_t>(s.c) * HW, cols = nb * PQ;
  for (int g = 0; g < G; ++g) {
    const float* dyg = gather_dy(s, bl, n0, nb, g, dy);  // (Kg, nb*PQ)
    const float* wg = w + g * Kg * CRS;                    // (Kg, Cg*R*S)
    if (bl.pointwise) {                                    // nb == 1: dx[n, g] is the column matrix
      detail::sgemm(true, false, static_cast<int>(CRS), static_cast<int>(PQ), Kg, 1.0f, wg, static_cast<int>(CRS),
                    dyg, static_cast<int>(PQ), 0.0f, dx + n0 * x_img + g * Cg * HW, static_cast<int>(PQ));
      continue;
    }
    float* col = detail::scratch(0, static_cast<size_t>(CRS * cols));
    detail::sgemm(true, false, static_cast<int>(CRS), static_cast<int>(cols), Kg, 1.0f, wg, static_cast<int>(CRS), dyg,
                  static_cast<int>(cols), 0.0f, col, static_cast<int>(cols));
    for (int i = 0; i < nb; ++i) {
      float* dxg = dx + (n0 + i) * x_img + g * Cg * HW;
      std::fill(dxg, dxg + Cg * HW, 0.0f);
      col2im(s, col + i * PQ, cols, dxg);
    }
  }
}

// dw (K, Cg*R*S) += contributions of the block's images.
void backward_filter_block(const Conv2dShape& s, const Blocks& bl, int n0, int nb, const float* x, const float* dy,
                           float* dw) {
  const int G = s.groups, Kg = s.k_per_group(), Cg = s.c_per_group();
  const int64_t PQ = bl.pq, CRS = bl.crs, HW = static_cast<int64_t>(s.h) * s.w;
  const int64_t x_img = static_cast<int64_t>(s.c) * HW, cols = nb * PQ;
  float* col = bl.pointwise ? nullptr : detail::scratch(0, static_cast<size_t>(CRS * cols));
  for (int g = 0; g < G; ++g) {
    const float* dyg = gather_dy(s, bl, n0, nb, g, dy);
    const float* colg = col;
    if (bl.pointwise) {
      colg = x + n0 * x_img + g * Cg * HW;
    } else {
      for (int i = 0; i < nb; ++i) im2col(s, x + (n0 + i) * x_img + g * Cg * HW, col + i * PQ, cols);
    }
    detail::sgemm(false, true, Kg, static_cast<int>(CRS), static_cast<int>(cols), 1.0f, dyg, static_cast<int>(cols),
                  colg, static_cast<int>(cols), 1.0f, dw + g * Kg * CRS, static_cast<int>(CRS));
  }
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                    const Stream&) {
  s.validate();
  detail::blas_single_threaded();
  const Blocks bl = blocks_of(s);
  auto block = [&](int64_t b) {
    forward_block(s, bl, static_cast<int>(b) * bl.images, bl.block_size(static_cast<int>(b), s.n), x, w, bias, y);
  };
  if (run_parallel(s, bl)) {
    detail::parallel_for(bl.count, block);
  } else {
    for (int b = 0; b < bl.count; ++b) block(b);
  }
}

void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx, const Stream&) {
  s.validate();
  detail::blas_single_threaded();
  const Blocks bl = blocks_of(s);
  auto block = [&](int64_t b) {
    backward_data_block(s, bl, static_cast<int>(b) * bl.images, bl.block_size(static_cast<int>(b), s.n), dy, w, dx);
  };
  if (run_parallel(s, bl)) {
    detail::parallel_for(bl.count, block);
  } else {
    for (int b = 0; b < bl.count; ++b) block(b);
  }
}

void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Stream&) {
  s.validate();
  detail::blas_single_threaded();
  const Blocks bl = blocks_of(s);
  const int64_t wsz = s.w_size();
  // The blocks are cut into a fixed number of chunks (a function of the shape only), each summed
  // into its own partial buffer, then the partials are added to dw in chunk order: the same bits
  // for any thread count.
  constexpr int kMaxChunks = 8;
  const int chunks = std::min(bl.count, kMaxChunks);
  if (chunks == 1) {
    for (int b = 0; b < bl.count; ++b) backward_filter_block(s, bl, b * bl.images, bl.block_size(b, s.n), x, dy, dw);
    return;
  }
  std::vector<float> partial(static_cast<size_t>(chunks * wsz), 0.0f);  // (chunks, K, Cg*R*S)
  auto chunk = [&](int64_t j) {
    const int lo = static_cast<int>(static_cast<int64_t>(bl.count) * j / chunks);
    const int hi = static_cast<int>(static_cast<int64_t>(bl.count) * (j + 1) / chunks);
    for (int b = lo; b < hi; ++b)
      backward_filter_block(s, bl, b * bl.images, bl.block_size(b, s.n), x, dy, partial.data() + j * wsz);
  };
  if (run_parallel(s, bl)) {
    detail::parallel_for(chunks, chunk);
  } else {
    for (int j = 0; j < chunks; ++j) chunk(j);
  }
  constexpr int64_t kSlice = 1 << 15;
  detail::parallel_for((wsz + kSlice - 1) / kSlice, [&](int64_t sl) {
    const int64_t end = std::min(wsz, (sl + 1) * kSlice);
    for (int64_t i = sl * kSlice; i < end; ++i) {
      float acc = partial[static_cast<size_t>(i)];
      for (int j = 1; j < chunks; ++j) acc += partial[static_cast<size_t>(j * wsz + i)];
      dw[i] += acc;
    }
  });
}

void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db, const Stream&) {
  s.validate();
  const int64_t PQ = static_cast<int64_t>(s.p()) * s.q();
  const int64_t y_img = s.k * PQ;
  // Per (n, k) row: 8 float lanes (vectorisable, a fixed order), then the rows in double.
  auto channel = [&](int64_t k) {
    double acc = 0.0;
    for (int n = 0; n < s.n; ++n) {
      const float* d = dy + n * y_img + k * PQ;
      float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= PQ; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += d[i + l];
      float row = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
      for (; i < PQ; ++i) row += d[i];
      acc += row;
    }
    db[k] += static_cast<float>(acc);
  };
  if (s.y_size() >= 4 * detail::kParallelMin) {
    detail::parallel_for(s.k, channel);
  } else {
    for (int k = 0; k < s.k; ++k) channel(k);
  }
}

}  // namespace kiln::cpu
