// Op-table rows for the convolution passes with rounded operands (kernels/conv2d.inc, *_rounded):
// ops conv2d_forward_tf32 / _bf16 / _f16, conv2d_backward_data_*, conv2d_backward_filter_*, each
// its own op because the CPU twin rounds (cpu::conv2d_*_rounded). GPU versions:
//   v3_tc_<p>    the tensor-core implicit GEMM (sm_80+, kernels/conv2d_tc.cu);
//   rounded_copies_sm75  conv2d_*_rounded on a device without tensor cores (compute capability 7.x
//                through gpu::ScopedComputeMajor: the emulator models sm_80+ only): rounded copies
//                of the operands through the FP32 implicit GEMM v2;
//   rounded      conv2d_*_rounded on the device as it is (v3_tc on sm_80+), on a few shapes;
//   cudnn        (bench sizes, cuda build) cuDNN in the same precision (kernels/cudnn_conv.h).
// Tolerance. The twin rounds the operands exactly as the kernels do and products of rounded
// operands are exact in FP32, so only the order of the FP32 sums differs: the FP32 tolerance,
// growing with sqrt(accumulation length), whatever the precision. Bench rows compare cuDNN too,
// which rounds TF32 operands its own way and returns BF16/F16 outputs: there the allowed error is
// the precision's, 4 units of its rounding (TF32 and F16 2^-11, BF16 2^-8) relative to |y| + rms(y).
// Test sizes: every precision and pass on ragged sizes (no tile multiples), stride 2, padding,
// dilation, groups 2 and depthwise, 1x1, 11x11 stride 4 (AlexNet conv1 scaled down), batch 1,
// several block tiles in M and N, 16-byte copies (aligned rows), and a split backward_filter.
// Bench sizes: the AlexNet 2012 layers at batch 128, beside the FP32 rows of conv2d.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/compute_capability.h"
#include "kernels/conv2d.h"
#include "tests/parity/op_table.h"

#if KILN_WITH_CUDA
#include "kernels/cudnn_conv.h"
#endif

namespace kiln::optable {
namespace {

struct Spec {
  int n, c, h, w, k, r, s;
  int stride = 1, pad = 0, dil = 1, groups = 1;
};

Conv2dShape shape_of(const Spec& v) {
  Conv2dShape s;
  s.n = v.n, s.c = v.c, s.h = v.h, s.w = v.w, s.k = v.k, s.r = v.r, s.s = v.s;
  s.stride_h = s.stride_w = v.stride;
  s.pad_h = s.pad_w = v.pad;
  s.dilation_h = s.dilation_w = v.dil;
  s.groups = v.groups;
  return s;
}

std::string label_of(const Conv2dShape& s, const std::string& label) {
  const std::string dims =
      fmt::format("n{}_c{}_h{}w{}_k{}_r{}s{}_st{}x{}_pad{}x{}_dil{}x{}_g{}", s.n, s.c, s.h, s.w, s.k, s.r, s.s,
                  s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.groups);
  return label.empty() ? dims : label + "_" + dims;
}

// 4 units of the precision's rounding, as a multiple of the FP32 tolerance of `b` (op_table.h).
double precision_scale(MathPrecision p, const Buffer& b) {
  const double unit = p == MathPrecision::BF16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
  return std::max(1.0, 4 * unit / tolerance(b));
}

struct Options {
  bool bench = false;     // a benchmark row (bench sizes): cuDNN beside, the precision's tolerance
  bool dispatch = false;  // also the dispatching launcher conv2d_*_rounded
};

enum class Impl { TensorCores, Turing, Dispatch, Cudnn };

// c.gpu: the versions `o` asks for, `of(impl)` the launcher of each.
template <class Of>
void add_versions([[maybe_unused]] OpCase& c, [[maybe_unused]] const std::string& tc, [[maybe_unused]] Options o,
                  [[maybe_unused]] Of of) {
#if KILN_WITH_DEVICE
  c.gpu = {{tc, of(Impl::TensorCores)}, {"rounded_copies_sm75", of(Impl::Turing)}};
  if (o.dispatch) c.gpu.push_back({"rounded", of(Impl::Dispatch)});
#endif
#if KILN_WITH_CUDA
  if (o.bench) c.gpu.push_back({"cudnn", of(Impl::Cudnn)});
#endif
}

void add_rounded(std::vector<OpCase>& cases, const Conv2dShape& s, MathPrecision p, const std::string& label,
                 Options o) {
  s.validate();
  const std::string pn = precision_name(p), tc = "v3_tc_" + pn;
  auto make = [&](const char* pass, std::vector<Buffer> buffers) {
    OpCase c;
    c.op = fmt::format("conv2d_{}_{}", pass, pn);
    c.shape = label_of(s, label);
    c.buffers = std::move(buffers);
    if (o.bench) c.buffers.back().tolerance_scale = precision_scale(p, c.buffers.back());
    c.flops = s.flops();
    c.bytes = s.bytes();
    c.bench = o.bench;
    return c;
  };

  OpCase fwd = make("forward", {{.name = "x", .numel = s.x_size()},
                                {.name = "w", .numel = s.w_size()},
                                {.name = "bias", .numel = s.k},
                                {.name = "y", .numel = s.y_size(), .role = Role::Output,
                                 .accumulation = static_cast<double>(s.crs()) + 1}});
  fwd.cpu = [s, p](const Args& a, const Stream& st) {
    cpu::conv2d_forward_rounded(s, p, a.f(0), a.f(1), a.f(2), a.f(3), st);
  };
  add_versions(fwd, tc, o, [s, p](Impl impl) -> Launcher {
    return [s, p, impl](const Args& a, const Stream& st) {
      const gpu::ScopedComputeMajor major(impl == Impl::Turing ? 7 : 0);  // 0: the device's own
      if (impl == Impl::TensorCores) gpu::conv2d_forward_v3_tc(s, p, a.f(0), a.f(1), a.f(2), a.f(3), st);
      if (impl == Impl::Turing || impl == Impl::Dispatch)
        gpu::conv2d_forward_rounded(s, p, a.f(0), a.f(1), a.f(2), a.f(3), st);
#if KILN_WITH_CUDA
      if (impl == Impl::Cudnn) gpu::conv2d_forward_cudnn(s, p, a.f(0), a.f(1), a.f(2), a.f(3), st);
#endif
    };
  });
  cases.push_back(std::move(fwd));

  OpCase bd = make("backward_data", {{.name = "dy", .numel = s.y_size()},
                                     {.name = "w", .numel = s.w_size()},
                                     {.name = "dx", .numel = s.x_size(), .role = Role::Output,
                                      .accumulation = static_cast<double>(s.k_per_group()) * s.r * s.s}});
  bd.cpu = [s, p](const Args& a, const Stream& st) {
    cpu::conv2d_backward_data_rounded(s, p, a.f(0), a.f(1), a.f(2), st);
  };
  add_versions(bd, tc, o, [s, p](Impl impl) -> Launcher {
    return [s, p, impl](const Args& a, const Stream& st) {
      const gpu::ScopedComputeMajor major(impl == Impl::Turing ? 7 : 0);  // 0: the device's own
      if (impl == Impl::TensorCores) gpu::conv2d_backward_data_v3_tc(s, p, a.f(0), a.f(1), a.f(2), st);
      if (impl == Impl::Turing || impl == Impl::Dispatch)
        gpu::conv2d_backward_data_rounded(s, p, a.f(0), a.f(1), a.f(2), st);
#if KILN_WITH_CUDA
      if (impl == Impl::Cudnn) gpu::conv2d_backward_data_cudnn(s, p, a.f(0), a.f(1), a.f(2), st);
#endif
    };
  });
  cases.push_back(std::move(bd));

  const double npq = static_cast<double>(s.n) * s.p() * s.q();
  OpCase bf = make("backward_filter", {{.name = "x", .numel = s.x_size()},
                                       {.name = "dy", .numel = s.y_size()},
                                       {.name = "dw", .numel = s.w_size(), .role = Role::Accumulate,
                                        .accumulation = npq + 1}});
  bf.cpu = [s, p](const Args& a, const Stream& st) {
    cpu::conv2d_backward_filter_rounded(s, p, a.f(0), a.f(1), a.f(2), st);
  };
  add_versions(bf, tc, o, [s, p](Impl impl) -> Launcher {
    return [s, p, impl](const Args& a, const Stream& st) {
      const gpu::ScopedComputeMajor major(impl == Impl::Turing ? 7 : 0);  // 0: the device's own
      if (impl == Impl::TensorCores) gpu::conv2d_backward_filter_v3_tc(s, p, a.f(0), a.f(1), a.f(2), st);
      if (impl == Impl::Turing || impl == Impl::Dispatch)
        gpu::conv2d_backward_filter_rounded(s, p, a.f(0), a.f(1), a.f(2), st);
#if KILN_WITH_CUDA
      if (impl == Impl::Cudnn) gpu::conv2d_backward_filter_cudnn(s, p, a.f(0), a.f(1), a.f(2), st);
#endif
    };
  });
  cases.push_back(std::move(bf));
}

}  // namespace

void add_conv2d_rounded_cases(std::vector<OpCase>& cases, Sizes sizes) {
  constexpr MathPrecision kAll[] = {MathPrecision::TF32, MathPrecision::BF16, MathPrecision::F16};
  if (sizes == Sizes::Bench) {  // beside conv2d's FP32 rows of the same shapes (v2, cuDNN FP32)
    constexpr int B = 128;
    const Spec alexnet[] = {{B, 3, 227, 227, 96, 11, 11, 4, 0},       {B, 96, 27, 27, 256, 5, 5, 1, 2, 1, 2},
                            {B, 256, 13, 13, 384, 3, 3, 1, 1},        {B, 384, 13, 13, 384, 3, 3, 1, 1, 1, 2},
                            {B, 384, 13, 13, 256, 3, 3, 1, 1, 1, 2}};
    for (MathPrecision p : kAll)
      for (int i = 0; i < 5; ++i)
        add_rounded(cases, shape_of(alexnet[i]), p, fmt::format("alexnet_conv{}", i + 1), {.bench = true});
    return;
  }
  for (MathPrecision p : kAll) {
    add_rounded(cases, shape_of({1, 1, 1, 1, 1, 1, 1}), p, "", {.dispatch = true});
    add_rounded(cases, shape_of({2, 5, 11, 13, 7, 3, 3, 1, 1}), p, "ragged", {.dispatch = true});
    add_rounded(cases, shape_of({1, 7, 33, 33, 13, 5, 5, 2, 2}), p, "stride2", {});
    add_rounded(cases, shape_of({2, 4, 9, 8, 6, 2, 3, 1, 1, 2}), p, "dilation2", {});
    add_rounded(cases, shape_of({2, 8, 13, 13, 12, 3, 3, 1, 1, 1, 2}), p, "groups2", {});
    add_rounded(cases, shape_of({2, 33, 13, 13, 33, 1, 1}), p, "pointwise", {});
    add_rounded(cases, shape_of({1, 3, 35, 35, 96, 11, 11, 4, 0}), p, "alexnet_conv1_small", {});
    {
      Conv2dShape s = shape_of({3, 4, 9, 11, 6, 3, 5});  // non-square: stride, pad, dilation per axis
      s.stride_h = 2, s.pad_h = 1, s.pad_w = 2, s.dilation_w = 2;
      add_rounded(cases, s, p, "", {});
    }
    if (p == MathPrecision::F16) continue;  // the same kernels as BF16 but for the conversion
    // Two block tiles in M, four in N, 9 k-tiles; 16-byte copies (C*R*S and P*Q % 4 == 0);
    // depthwise; backward_filter split into 8 chunks (N*P*Q = 1024).
    add_rounded(cases, shape_of({1, 16, 20, 20, 130, 3, 3, 1, 1}), p, "tiles", {});
    add_rounded(cases, shape_of({1, 64, 8, 8, 40, 1, 1}), p, "aligned", {});
    add_rounded(cases, shape_of({2, 6, 8, 8, 6, 3, 3, 1, 1, 1, 6}), p, "depthwise", {});
    add_rounded(cases, shape_of({4, 8, 16, 16, 16, 3, 3, 1, 1}), p, "split", {});
    add_rounded(cases, shape_of({2, 32, 13, 13, 48, 3, 3, 1, 1}), p, "alexnet_conv3_small", {});
  }
}

}  // namespace kiln::optable
