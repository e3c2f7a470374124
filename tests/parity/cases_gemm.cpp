// Op-table rows for GEMM: kiln's tiled SGEMM (both tile sizes), the naive kernel, cuBLAS (libcublas
// in the cuda build, the emulated cublasSgemm of kernels/cublas_emu.h in the emulate build: the
// same row-major to column-major mapping) and gemm() routed through it, against cpu_fallback's
// OpenBLAS GEMM, on odd sizes, every transpose combination, alpha/beta, and the AlexNet fully
// connected layers (forward, backward-data and backward-weights GEMMs); gemm_strided rows give the
// cuBLAS path row strides above the packed ones. Every gemm row names its gradient with respect to
// A and B (two more GEMMs), checked by finite differences. gemm_tf32 / gemm_bf16 / gemm_f16 rows:
// against their rounded CPU twin (cpu::gemm_rounded), kiln's tensor-core GEMM (v3_tc), cuBLAS GemmEx
// in the precision (cublas: emulated here, libcublas on a GPU) and gemm_rounded on a device
// without tensor cores (rounded_copies_sm75: compute capability 7.x, rounded copies of A and B).
#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "kernels/compute_capability.h"
#include "kernels/gemm.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// The GEMMs of C's gradient, dC = dL/dC, with op(A) (M, K) and op(B) (K, N):
//   d op(A) = alpha dC op(B)^T   A (M, K): gemm{M, K, N}(dC, B);  A (K, M): gemm{K, M, N}(B, dC)
//   d op(B) = alpha op(A)^T dC   B (K, N): gemm{K, N, M}(A, dC);  B (N, K): gemm{N, K, M}(dC, A)
// with the transposes that turn each stored operand into the factor the formula needs.
GemmShape gemm_backward_a(const GemmShape& g) {
  GemmShape d;
  if (!g.trans_a) d.m = g.m, d.n = g.k, d.k = g.n, d.trans_a = false, d.trans_b = !g.trans_b;
  else d.m = g.k, d.n = g.m, d.k = g.n, d.trans_a = g.trans_b, d.trans_b = true;
  d.alpha = g.alpha;
  return d;
}
GemmShape gemm_backward_b(const GemmShape& g) {
  GemmShape d;
  if (!g.trans_b) d.m = g.k, d.n = g.n, d.k = g.m, d.trans_a = !g.trans_a, d.trans_b = false;
  else d.m = g.n, d.n = g.k, d.k = g.m, d.trans_a = true, d.trans_b = g.trans_a;
  d.alpha = g.alpha;
  return d;
}

OpCase gemm_case(const GemmShape& g, const std::string& label, bool bench) {
  OpCase c;
  c.op = "gemm";
  c.shape = fmt::format("m{}_n{}_k{}_{}{}", g.m, g.n, g.k, g.trans_a ? "t" : "n", g.trans_b ? "t" : "n");
  if (g.alpha != 1.0f || g.beta != 0.0f) c.shape += fmt::format("_a{}_b{}", g.alpha, g.beta);
  if (!label.empty()) c.shape += "_" + label;
  c.buffers = {{.name = "a", .numel = g.a_size()},
               {.name = "b", .numel = g.b_size()},
               {.name = "c",
                .numel = g.c_size(),
                .role = g.beta != 0.0f ? Role::Accumulate : Role::Output,
                .accumulation = static_cast<double>(g.k) + (g.beta != 0.0f ? 1 : 0)}};
  c.cpu = [g](const Args& a, const Stream& s) { cpu::gemm(g, a.f(0), a.f(1), a.f(2), s); };
#if KILN_WITH_DEVICE
  c.gpu = {
      {"v1_naive", [g](const Args& a, const Stream& s) { gpu::gemm_v1_naive(g, a.f(0), a.f(1), a.f(2), s); }},
      {"v2_tiled", [g](const Args& a, const Stream& s) { gpu::gemm_v2_tiled(g, a.f(0), a.f(1), a.f(2), s); }},
      {"v2_tiled_t64",
       [g](const Args& a, const Stream& s) { gpu::gemm_v2_tiled(g, a.f(0), a.f(1), a.f(2), s, gpu::GemmTile::T64); }},
      {"v2_tiled_t128",
       [g](const Args& a, const Stream& s) { gpu::gemm_v2_tiled(g, a.f(0), a.f(1), a.f(2), s, gpu::GemmTile::T128); }},
  };
  // libcublas in the cuda build, the emulated cublasSgemm in the emulate build: the same mapping.
  c.gpu.push_back(
      {"cublas", [g](const Args& a, const Stream& s) { gpu::gemm_cublas(g, a.f(0), a.f(1), a.f(2), s); }});
  c.gpu.push_back({"gemm_via_cublas", [g](const Args& a, const Stream& s) {
                     const bool was = gpu::gemm_through_cublas();
                     gpu::set_gemm_through_cublas(true);
                     gpu::gemm(g, a.f(0), a.f(1), a.f(2), s);
                     gpu::set_gemm_through_cublas(was);
                   }});
#endif
  c.flops = g.flops();
  c.bytes = g.bytes();
  c.bench = bench;
  // C is linear in A and in B, so the central difference is exact but for the rounding of C, which
  // a wide step divides down: outputs of K = 288 terms round at 1e-6, too much for 1e-4 over 2e-2.
  c.gradient = Gradient{.of = {2}, .wrt = {0, 1}, .eps = 0.25, .atol = 1e-4, .rtol = 1e-3};
  c.gradient->backward = [g](const Args& a, const GradArgs& d, const Stream& s) {
    cpu::gemm(gemm_backward_a(g), g.trans_a ? a.f(1) : d.dy[0], g.trans_a ? d.dy[0] : a.f(1), d.dx[0], s);
    cpu::gemm(gemm_backward_b(g), g.trans_b ? d.dy[0] : a.f(0), g.trans_b ? a.f(0) : d.dy[0], d.dx[1], s);
  };
  return c;
}

GemmShape make(int m, int n, int k, bool ta = false, bool tb = false, float alpha = 1.0f, float beta = 0.0f) {
  GemmShape g;
  g.m = m, g.n = n, g.k = k, g.trans_a = ta, g.trans_b = tb, g.alpha = alpha, g.beta = beta;
  return g;
}

// The three GEMMs of a fully connected layer y (B, out) = x (B, in) W^T + b, W (out, in):
//   forward          y  = x W^T        {M=B, N=out, K=in, trans_b}
//   backward data    dx = dy W         {M=B, N=in, K=out}
//   backward weights dW += dy^T x      {M=out, N=in, K=B, trans_a, beta=1}
void add_fc(std::vector<OpCase>& cases, int batch, int in, int out, const std::string& name, bool bench) {
  cases.push_back(gemm_case(make(batch, out, in, false, true), name + "_fwd", bench));
  cases.push_back(gemm_case(make(batch, in, out), name + "_bwd_data", bench));
  cases.push_back(gemm_case(make(out, in, batch, true, false, 1.0f, 1.0f), name + "_bwd_weights", bench));
}

// Row strides above the packed ones (gemm_cublas_strided): A, B and C stored with `pad` extra
// floats per row. The CPU side packs them, runs cpu::gemm and writes C's rows back; the padding
// (random, C accumulated) must come back untouched from both.
OpCase padded_gemm_case(const GemmShape& g, int pad) {
  const int lda = g.lda() + pad, ldb = g.ldb() + pad, ldc = g.ldc() + pad;
  const int a_rows = g.trans_a ? g.k : g.m, b_rows = g.trans_b ? g.n : g.k;
  OpCase c;
  c.op = "gemm_strided";
  c.shape = fmt::format("m{}_n{}_k{}_{}{}_a{}_b{}_pad{}", g.m, g.n, g.k, g.trans_a ? "t" : "n", g.trans_b ? "t" : "n",
                        g.alpha, g.beta, pad);
  c.buffers = {{.name = "a", .numel = int64_t{a_rows} * lda},
               {.name = "b", .numel = int64_t{b_rows} * ldb},
               {.name = "c", .numel = int64_t{g.m} * ldc, .role = Role::Accumulate,
                .accumulation = static_cast<double>(g.k) + 1}};
  c.cpu = [=](const Args& args, const Stream& s) {
    auto pack = [](const float* x, int rows, int cols, int ld) {
      std::vector<float> out(static_cast<size_t>(rows) * cols);
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < cols; ++j) out[static_cast<size_t>(r) * cols + j] = x[static_cast<int64_t>(r) * ld + j];
      return out;
    };
    const auto pa = pack(args.f(0), a_rows, g.lda(), lda), pb = pack(args.f(1), b_rows, g.ldb(), ldb);
    auto pc = pack(args.f(2), g.m, g.n, ldc);
    cpu::gemm(g, pa.data(), pb.data(), pc.data(), s);
    for (int r = 0; r < g.m; ++r)
      for (int j = 0; j < g.n; ++j) args.f(2)[static_cast<int64_t>(r) * ldc + j] = pc[static_cast<size_t>(r) * g.n + j];
  };
#if KILN_WITH_DEVICE
  c.gpu = {{"cublas", [=](const Args& a, const Stream& s) {
              gpu::gemm_cublas_strided(g, a.f(0), lda, a.f(1), ldb, a.f(2), ldc, s);
            }}};
#endif
  c.flops = g.flops();
  c.bytes = g.bytes();
  c.bench = false;
  return c;
}

// A GEMM with operands rounded to `p`: its own op (the CPU twin rounds, so it cannot share the
// gemm rows' twin). The operands are rounded identically on both sides and their products are
// exact, so only the order of the FP32 sums differs: the FP32 tolerance, growing with sqrt(K).
//
// cuBLAS's FAST compute types bound their rounding instead of fixing it (kernels/gemm.h): an operand
// may be rounded to nearest, truncated or left FP32, so it differs from kiln's rounding by up to 3u
// of itself (u: the precision's unit roundoff), a product by up to 6u |a b|, and C by up to
// 6u sum_k |a_k b_k|, about 4.5u sqrt(K) rms(C) for the harness's uniform operands (K |a b| = K/4,
// rms(C) = sqrt(K)/3) and 6u |C| for K = 1. A scale of 4u / 1e-6 makes tolerance() 4u + 8u sqrt(K):
// above both, and still far below the O(rms(C)) error of a wrong transpose or operand order.
#if KILN_WITH_DEVICE
double cublas_rounded_tolerance_scale(MathPrecision p) {
  const int mantissa_bits = p == MathPrecision::BF16 ? 7 : 10;  // TF32 and F16: 10
  return 4.0 * std::ldexp(1.0, -(mantissa_bits + 1)) / 1e-6;
}
#endif

OpCase rounded_gemm_case(const GemmShape& g, MathPrecision p, const std::string& label, bool bench) {
  OpCase c = gemm_case(g, label, bench);
  c.op = fmt::format("gemm_{}", precision_name(p));
  c.cpu = [g, p](const Args& a, const Stream& s) { cpu::gemm_rounded(g, p, a.f(0), a.f(1), a.f(2), s); };
  c.gradient.reset();  // a rounded forward has no useful finite differences; gemm's rows check the backward
#if KILN_WITH_DEVICE
  c.gpu = {{fmt::format("v3_tc_{}", precision_name(p)),
            [g, p](const Args& a, const Stream& s) { gpu::gemm_v3_tc(g, p, a.f(0), a.f(1), a.f(2), s); }},
           {"cublas", [g, p](const Args& a, const Stream& s) { gpu::gemm_cublas_rounded(g, p, a.f(0), a.f(1), a.f(2), s); },
            cublas_rounded_tolerance_scale(p)},
           // What the layers call, on a device as without TF32/BF16 tensor cores: the operands are
           // rounded before any GEMM sees them, so the products are exact on any device and the
           // FP32 tolerance holds (through libcublas too).
           {"rounded_copies_sm75", [g, p](const Args& a, const Stream& s) {
              const gpu::ScopedComputeMajor turing(7);
              gpu::gemm_rounded(g, p, a.f(0), a.f(1), a.f(2), s);
            }}};
#endif
  return c;
}

void add_rounded_gemm_cases(std::vector<OpCase>& cases, Sizes sizes) {
  constexpr MathPrecision kAll[] = {MathPrecision::TF32, MathPrecision::BF16, MathPrecision::F16};
  if (sizes == Sizes::Bench) {  // beside the FP32 rows of the same shapes (v2_tiled, cublas)
    for (MathPrecision p : kAll) {
      cases.push_back(rounded_gemm_case(make(4096, 4096, 4096), p, "square", true));
      cases.push_back(rounded_gemm_case(make(128, 4096, 9216, false, true), p, "alexnet_fc6_fwd", true));
    }
    return;
  }
  for (MathPrecision p : kAll) {
    // Tiny and odd sizes (16-byte copies impossible: 4-byte cp.async), every transpose combination.
    const int dims[][3] = {{1, 1, 1}, {3, 7, 13}, {65, 63, 67}};
    for (const auto& d : dims)
      for (int t = 0; t < 4; ++t) cases.push_back(rounded_gemm_case(make(d[0], d[1], d[2], t & 1, t & 2), p, "", false));
    if (p == MathPrecision::F16) continue;  // the same kernel as BF16 but for the conversion
    // Several block tiles in M and N, a K tail, 16-byte cp.async (every stored row % 4 == 0).
    cases.push_back(rounded_gemm_case(make(129, 130, 20, true, false), p, "", false));
    cases.push_back(rounded_gemm_case(make(96, 132, 72), p, "aligned", false));
    cases.push_back(rounded_gemm_case(make(96, 132, 72, true, true), p, "aligned", false));
    cases.push_back(rounded_gemm_case(make(256, 384, 200), p, "aligned", false));
    cases.push_back(rounded_gemm_case(make(256, 384, 200, false, true), p, "aligned", false));
    // A long K (many pipeline iterations), alpha and beta.
    cases.push_back(rounded_gemm_case(make(20, 9, 515, false, true), p, "", false));
    cases.push_back(rounded_gemm_case(make(33, 36, 20, false, false, 0.5f, 0.0f), p, "", false));
    cases.push_back(rounded_gemm_case(make(33, 36, 20, false, true, 1.0f, 0.75f), p, "", false));
    cases.push_back(rounded_gemm_case(make(20, 17, 40, true, false, -2.0f, 1.0f), p, "", false));
  }
}

}  // namespace

void add_gemm_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Bench) {
    add_fc(cases, 128, 9216, 4096, "alexnet_fc6", true);
    add_fc(cases, 128, 4096, 4096, "alexnet_fc7", true);
    add_fc(cases, 128, 4096, 1000, "alexnet_fc8", true);
    cases.push_back(gemm_case(make(4096, 4096, 4096), "square", true));
    add_rounded_gemm_cases(cases, sizes);
    return;
  }
  add_rounded_gemm_cases(cases, sizes);
  // Odd sizes (multiples of no tile), each transpose combination.
  const int dims[][3] = {{1, 1, 1}, {3, 7, 13}, {33, 13, 7}, {13, 33, 1}, {7, 1, 33},
                         {64, 64, 64}, {65, 63, 67}, {127, 33, 129}, {129, 130, 20}};
  for (const auto& d : dims) {
    for (int t = 0; t < 4; ++t) cases.push_back(gemm_case(make(d[0], d[1], d[2], t & 1, t & 2), "", false));
  }
  // alpha / beta (beta = 0 must ignore C's NaN-filled start; beta != 0 accumulates).
  cases.push_back(gemm_case(make(33, 36, 20, false, false, 0.5f, 0.0f), "", false));
  cases.push_back(gemm_case(make(33, 36, 20, false, true, 1.0f, 0.75f), "", false));
  cases.push_back(gemm_case(make(20, 17, 40, true, false, -2.0f, 1.0f), "", false));
  // float4 paths: every contiguous dimension a multiple of 4.
  cases.push_back(gemm_case(make(96, 132, 72), "aligned", false));
  cases.push_back(gemm_case(make(96, 132, 72, true, true), "aligned", false));
  // AlexNet's fully connected layers scaled down (batch 4, 1/32 of the widths).
  add_fc(cases, 4, 288, 128, "alexnet_fc6_small", false);
  add_fc(cases, 4, 128, 31, "alexnet_fc8_small", false);
  // Leading dimensions above the minimum, every transpose combination, non-square odd sizes,
  // alpha and beta away from 1 and 0.
  for (int t = 0; t < 4; ++t) {
    cases.push_back(padded_gemm_case(make(13, 7, 5, t & 1, t & 2, 0.5f, 0.25f), 3));
    cases.push_back(padded_gemm_case(make(33, 20, 17, t & 1, t & 2, -1.5f, 0.0f), 1));
    cases.push_back(padded_gemm_case(make(1, 9, 4, t & 1, t & 2, 2.0f, 1.0f), 5));
  }
}

}  // namespace kiln::optable
