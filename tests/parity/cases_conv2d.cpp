// Op-table rows for conv2d: forward, backward-data, backward-filter and backward-bias, every GPU
// version (naive direct, implicit GEMM with either tile; cuDNN in the cuda build) against
// cpu_fallback's im2col + SGEMM. Every test-size forward row names its gradient (the three backward
// ops' CPU twins), checked by finite differences.
// Test sizes: odd sizes, batch 1, a stride x pad x dilation x groups grid, non-square images and
// kernels, padding wider than the kernel, stride wider than the kernel, depthwise, and the AlexNet
// layers scaled down. Bench sizes: AlexNet 2012 (groups 2) and "one weird trick" at batch 128, and
// the five convnet-benchmarks layers.
#include <fmt/format.h>

#include "kernels/conv2d.h"
#include "tests/parity/op_table.h"

#if KILN_WITH_CUDA
#include "kernels/cudnn_conv.h"
#endif

namespace kiln::optable {
namespace {

struct Conv {
  int n, c, h, w, k, r, s;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  bool bias = true;
};

Conv2dShape shape_of(const Conv& v) {
  Conv2dShape s;
  s.n = v.n, s.c = v.c, s.h = v.h, s.w = v.w, s.k = v.k, s.r = v.r, s.s = v.s;
  s.stride_h = v.stride_h, s.stride_w = v.stride_w, s.pad_h = v.pad_h, s.pad_w = v.pad_w;
  s.dilation_h = v.dil_h, s.dilation_w = v.dil_w, s.groups = v.groups;
  return s;
}

std::string name_of(const Conv2dShape& s, const std::string& label) {
  std::string n = fmt::format("n{}_c{}_h{}w{}_k{}_r{}s{}_st{}x{}_pad{}x{}_dil{}x{}_g{}", s.n, s.c, s.h, s.w, s.k, s.r,
                              s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.groups);
  return label.empty() ? n : label + "_" + n;
}

void add_conv(std::vector<OpCase>& cases, const Conv& v, const std::string& label, bool bench) {
  const Conv2dShape s = shape_of(v);
  s.validate();
  const std::string name = name_of(s, label) + (v.bias ? "" : "_nobias");
  const double npq = static_cast<double>(s.n) * s.p() * s.q();

  OpCase fwd;
  fwd.op = "conv2d_forward";
  fwd.shape = name;
  fwd.buffers = {{.name = "x", .numel = s.x_size()},
                 {.name = "w", .numel = s.w_size()},
                 {.name = "bias", .numel = v.bias ? s.k : 0},
                 {.name = "y", .numel = s.y_size(), .role = Role::Output,
                  .accumulation = static_cast<double>(s.crs()) + 1}};
  const bool has_bias = v.bias;
  fwd.cpu = [s, has_bias](const Args& a, const Stream& st) {
    cpu::conv2d_forward(s, a.f(0), a.f(1), has_bias ? a.f(2) : nullptr, a.f(3), st);
  };
#if KILN_WITH_DEVICE
  auto fwd_v = [s, has_bias](gpu::GemmTile t) {
    return [s, has_bias, t](const Args& a, const Stream& st) {
      gpu::conv2d_forward_v2(s, a.f(0), a.f(1), has_bias ? a.f(2) : nullptr, a.f(3), st, t);
    };
  };
  fwd.gpu = {{"v1_naive",
              [s, has_bias](const Args& a, const Stream& st) {
                gpu::conv2d_forward_v1(s, a.f(0), a.f(1), has_bias ? a.f(2) : nullptr, a.f(3), st);
              }},
             {"v2_implicit_gemm", fwd_v(gpu::GemmTile::Auto)},
             {"v2_implicit_gemm_t64", fwd_v(gpu::GemmTile::T64)},
             {"v2_implicit_gemm_t128", fwd_v(gpu::GemmTile::T128)}};
#endif
#if KILN_WITH_CUDA
  fwd.gpu.push_back({"cudnn", [s, has_bias](const Args& a, const Stream& st) {
                       gpu::conv2d_forward_cudnn(s, a.f(0), a.f(1), has_bias ? a.f(2) : nullptr, a.f(3), st);
                     }});
#endif
  fwd.flops = s.flops();
  fwd.bytes = s.bytes();
  fwd.bench = bench;
  // The gradient: dx by backward-data, dw by backward-filter, db by backward-bias.
  Gradient g{.of = {3}, .wrt = {0, 1}};
  if (has_bias) g.wrt.push_back(2);
  g.backward = [s, has_bias](const Args& a, const GradArgs& d, const Stream& st) {
    cpu::conv2d_backward_data(s, d.dy[0], a.f(1), d.dx[0], st);
    cpu::conv2d_backward_filter(s, a.f(0), d.dy[0], d.dx[1], st);
    if (has_bias) cpu::conv2d_backward_bias(s, d.dy[0], d.dx[2], st);
  };
  fwd.gradient = g;
  cases.push_back(fwd);
  if (!v.bias) return;  // the backward passes do not see the bias: already covered by the twin shape

  OpCase bd;
  bd.op = "conv2d_backward_data";
  bd.shape = name_of(s, label);
  bd.buffers = {{.name = "dy", .numel = s.y_size()},
                {.name = "w", .numel = s.w_size()},
                {.name = "dx", .numel = s.x_size(), .role = Role::Output,
                 .accumulation = static_cast<double>(s.k_per_group()) * s.r * s.s}};
  bd.cpu = [s](const Args& a, const Stream& st) { cpu::conv2d_backward_data(s, a.f(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  auto bd_v = [s](gpu::GemmTile t) {
    return [s, t](const Args& a, const Stream& st) { gpu::conv2d_backward_data_v2(s, a.f(0), a.f(1), a.f(2), st, t); };
  };
  bd.gpu = {{"v1_naive",
             [s](const Args& a, const Stream& st) { gpu::conv2d_backward_data_v1(s, a.f(0), a.f(1), a.f(2), st); }},
            {"v2_implicit_gemm", bd_v(gpu::GemmTile::Auto)},
            {"v2_implicit_gemm_t64", bd_v(gpu::GemmTile::T64)},
            {"v2_implicit_gemm_t128", bd_v(gpu::GemmTile::T128)}};
#endif
#if KILN_WITH_CUDA
  bd.gpu.push_back({"cudnn", [s](const Args& a, const Stream& st) {
                      gpu::conv2d_backward_data_cudnn(s, a.f(0), a.f(1), a.f(2), st);
                    }});
#endif
  bd.flops = s.flops();
  bd.bytes = s.bytes();
  bd.bench = bench;
  cases.push_back(bd);

  OpCase bf;
  bf.op = "conv2d_backward_filter";
  bf.shape = bd.shape;
  bf.buffers = {{.name = "x", .numel = s.x_size()},
                {.name = "dy", .numel = s.y_size()},
                {.name = "dw", .numel = s.w_size(), .role = Role::Accumulate, .accumulation = npq + 1}};
  bf.cpu = [s](const Args& a, const Stream& st) { cpu::conv2d_backward_filter(s, a.f(0), a.f(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  auto bf_v = [s](gpu::GemmTile t) {
    return [s, t](const Args& a, const Stream& st) {
      gpu::conv2d_backward_filter_v2(s, a.f(0), a.f(1), a.f(2), st, t);
    };
  };
  bf.gpu = {{"v1_naive",
             [s](const Args& a, const Stream& st) { gpu::conv2d_backward_filter_v1(s, a.f(0), a.f(1), a.f(2), st); }},
            {"v2_implicit_gemm", bf_v(gpu::GemmTile::Auto)},
            {"v2_implicit_gemm_t64", bf_v(gpu::GemmTile::T64)},
            {"v2_implicit_gemm_t128", bf_v(gpu::GemmTile::T128)}};
#endif
#if KILN_WITH_CUDA
  bf.gpu.push_back({"cudnn", [s](const Args& a, const Stream& st) {
                      gpu::conv2d_backward_filter_cudnn(s, a.f(0), a.f(1), a.f(2), st);
                    }});
#endif
  bf.flops = s.flops();
  bf.bytes = s.bytes();
  bf.bench = bench;
  cases.push_back(bf);

  OpCase bb;
  bb.op = "conv2d_backward_bias";
  bb.shape = bd.shape;
  bb.buffers = {{.name = "dy", .numel = s.y_size()},
                {.name = "db", .numel = s.k, .role = Role::Accumulate, .accumulation = npq + 1}};
  bb.cpu = [s](const Args& a, const Stream& st) { cpu::conv2d_backward_bias(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  bb.gpu = {{"v1_naive", [s](const Args& a, const Stream& st) { gpu::conv2d_backward_bias_v1(s, a.f(0), a.f(1), st); }},
            {"v2_block_reduce",
             [s](const Args& a, const Stream& st) { gpu::conv2d_backward_bias_v2(s, a.f(0), a.f(1), st); }}};
#endif
  bb.flops = s.y_size();
  bb.bytes = 4 * (s.y_size() + 2 * s.k);
  bb.bench = bench;
  cases.push_back(bb);
}

// Helpers for the shape lists.
Conv conv(int n, int c, int h, int w, int k, int r, int s) { return Conv{n, c, h, w, k, r, s}; }
Conv with(Conv v, int stride, int pad, int dil = 1, int groups = 1) {
  v.stride_h = v.stride_w = stride;
  v.pad_h = v.pad_w = pad;
  v.dil_h = v.dil_w = dil;
  v.groups = groups;
  return v;
}

}  // namespace

void add_conv2d_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Bench) {
    constexpr int B = 128;
    // AlexNet 2012 (Krizhevsky et al.; two-GPU groups), 227x227 input.
    add_conv(cases, with(conv(B, 3, 227, 227, 96, 11, 11), 4, 0), "alexnet_conv1", true);
    add_conv(cases, with(conv(B, 96, 27, 27, 256, 5, 5), 1, 2, 1, 2), "alexnet_conv2", true);
    add_conv(cases, with(conv(B, 256, 13, 13, 384, 3, 3), 1, 1), "alexnet_conv3", true);
    add_conv(cases, with(conv(B, 384, 13, 13, 384, 3, 3), 1, 1, 1, 2), "alexnet_conv4", true);
    add_conv(cases, with(conv(B, 384, 13, 13, 256, 3, 3), 1, 1, 1, 2), "alexnet_conv5", true);
    // "One weird trick" AlexNet (Krizhevsky 2014; convnet-benchmarks' alexnet), 224x224 input.
    add_conv(cases, with(conv(B, 3, 224, 224, 64, 11, 11), 4, 2), "owt_conv1", true);
    add_conv(cases, with(conv(B, 64, 27, 27, 192, 5, 5), 1, 2), "owt_conv2", true);
    add_conv(cases, with(conv(B, 192, 13, 13, 384, 3, 3), 1, 1), "owt_conv3", true);
    add_conv(cases, with(conv(B, 384, 13, 13, 256, 3, 3), 1, 1), "owt_conv4", true);
    add_conv(cases, with(conv(B, 256, 13, 13, 256, 3, 3), 1, 1), "owt_conv5", true);
    // convnet-benchmarks (soumith) layers L1..L5: stride 1, no padding.
    add_conv(cases, conv(B, 3, 128, 128, 96, 11, 11), "cnbench_L1", true);
    add_conv(cases, conv(B, 64, 64, 64, 128, 9, 9), "cnbench_L2", true);
    add_conv(cases, conv(B, 128, 32, 32, 128, 9, 9), "cnbench_L3", true);
    add_conv(cases, conv(B, 128, 16, 16, 128, 7, 7), "cnbench_L4", true);
    add_conv(cases, conv(B, 384, 13, 13, 384, 3, 3), "cnbench_L5", true);
    return;
  }

  // Edge cases and odd sizes.
  add_conv(cases, conv(1, 1, 1, 1, 1, 1, 1), "", false);
  add_conv(cases, with(conv(2, 3, 7, 7, 4, 3, 3), 1, 1), "", false);
  add_conv(cases, conv(1, 33, 13, 13, 33, 1, 1), "pointwise", false);
  add_conv(cases, with(conv(1, 7, 33, 33, 13, 5, 5), 2, 2), "", false);
  add_conv(cases, with(conv(1, 1, 127, 3, 2, 3, 3), 1, 1), "", false);
  {
    Conv v = conv(1, 3, 13, 7, 5, 3, 1);  // non-square image and kernel, padding on one side
    v.pad_h = 1;
    add_conv(cases, v, "", false);
  }
  {
    Conv v = conv(3, 4, 9, 11, 6, 3, 5);
    v.stride_h = 2, v.stride_w = 1, v.pad_h = 1, v.pad_w = 2, v.dil_h = 1, v.dil_w = 2;
    add_conv(cases, v, "", false);
  }
  add_conv(cases, with(conv(1, 2, 5, 4, 3, 3, 3), 1, 3), "pad_wider_than_kernel", false);
  add_conv(cases, with(conv(2, 3, 8, 8, 4, 1, 1), 3, 0), "stride_wider_than_kernel", false);
  add_conv(cases, with(conv(2, 6, 8, 8, 6, 3, 3), 1, 1, 1, 6), "depthwise", false);
  add_conv(cases, with(conv(1, 8, 7, 7, 8, 3, 3), 1, 1, 1, 4), "", false);
  add_conv(cases, with(conv(4, 3, 16, 16, 8, 3, 3), 1, 1), "batch4", false);
  {
    Conv v = with(conv(2, 3, 7, 7, 4, 3, 3), 1, 1);
    v.bias = false;
    add_conv(cases, v, "", false);
  }

  // The stride x pad x dilation x groups grid on a non-square image with an even-height kernel.
  for (int stride : {1, 2, 3})
    for (int pad : {0, 1, 2})
      for (int dil : {1, 2})
        for (int groups : {1, 2}) {
          Conv v = with(conv(2, 4, 9, 8, 6, 2, 3), stride, pad, dil, groups);
          if (v.h + 2 * pad < dil * (v.r - 1) + 1 || v.w + 2 * pad < dil * (v.s - 1) + 1) continue;
          add_conv(cases, v, "grid", false);
        }

  // AlexNet layers scaled down (batch 1-2, fewer channels, smaller images).
  add_conv(cases, with(conv(1, 3, 35, 35, 96, 11, 11), 4, 0), "alexnet_conv1_small", false);
  add_conv(cases, with(conv(1, 32, 13, 13, 32, 5, 5), 1, 2, 1, 2), "alexnet_conv2_small", false);
  add_conv(cases, with(conv(2, 32, 13, 13, 48, 3, 3), 1, 1), "alexnet_conv3_small", false);
  add_conv(cases, with(conv(1, 48, 13, 13, 48, 3, 3), 1, 1, 1, 2), "alexnet_conv4_small", false);
  add_conv(cases, with(conv(1, 16, 16, 16, 16, 9, 9), 1, 0), "cnbench_L3_small", false);
}

}  // namespace kiln::optable
