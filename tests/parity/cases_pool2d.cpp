// Op-table rows for max and average pooling (kernels/pool2d.cu vs cpu_fallback/pool2d.cpp).
// Max pooling (values and argmax) and its gather backward are bit-exact between the CPU and GPU:
// the same comparisons and the same summation order. The backward's argmax input comes from a CPU
// forward pass on random data (prepare), so it is a valid window position. The forward rows name
// their gradients (max: on distinct inputs; average), checked by finite differences.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "core/philox.h"
#include "kernels/pool2d.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// x[0..n) := distinct values `gap` apart around 0, in a fixed random order: no two within a
// finite-difference step of each other, so no max changes its argmax under the step.
void distinct_values(float* x, int64_t n, float gap) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i) - static_cast<float>(n) / 2) * gap;
  std::shuffle(v.begin(), v.end(), std::mt19937(static_cast<uint32_t>(n)));
  std::copy(v.begin(), v.end(), x);
}

std::string shape_name(const Pool2dShape& s) {
  return fmt::format("n{}_c{}_h{}w{}_k{}x{}_st{}x{}_pad{}x{}{}", s.n, s.c, s.h, s.w, s.kernel_h, s.kernel_w,
                     s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.count_include_pad ? "" : "_nopadcount")
         + (s.ceil_mode ? "_ceil" : "");
}

void add_shape(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, const Pool2dShape& s, bool bench) {
  const int64_t X = s.x_size(), Y = s.y_size();
  const std::string name = shape_name(s);
  const double window = static_cast<double>(s.kernel_h) * s.kernel_w;

  OpCase mf;
  mf.op = "maxpool2d_forward";
  mf.shape = name;
  mf.buffers = {{.name = "x", .numel = X},
                {.name = "y", .numel = Y, .role = Role::Output},
                {.name = "argmax", .numel = Y, .role = Role::Output, .dtype = DType::I32}};
  mf.cpu = [s](const Args& a, const Stream& st) { cpu::maxpool2d_forward(s, a.f(0), a.f(1), a.i32(2), st); };
#if KILN_WITH_DEVICE
  mf.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::maxpool2d_forward(s, a.f(0), a.f(1), a.i32(2), st);
  });
#endif
  mf.flops = s.flops();
  mf.bytes = s.bytes() + 4 * Y;
  mf.bench = bench;
  mf.exact = true;
  // The gradient: the gather backward through the argmax, on distinct inputs (no ties within eps).
  mf.gradient = Gradient{.of = {1}, .wrt = {0}, .eps = 1e-3, .max_checks = 1000};
  mf.gradient->backward = [s](const Args& a, const GradArgs& d, const Stream& st) {
    cpu::maxpool2d_backward(s, d.dy[0], a.i32(2), d.dx[0], st);
  };
  mf.gradient->prepare = [X](const Args& host) { distinct_values(host.f(0), X, 0.01f); };
  cases.push_back(mf);

  OpCase mb;
  mb.op = "maxpool2d_backward";
  mb.shape = name;
  mb.buffers = {{.name = "dy", .numel = Y},
                {.name = "argmax", .numel = Y, .dtype = DType::I32},
                {.name = "dx", .numel = X, .role = Role::Output}};
  mb.prepare = [s](const Args& host) {
    std::vector<float> x(static_cast<size_t>(s.x_size())), y(static_cast<size_t>(s.y_size()));
    for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(99, 0, i, -1.0f, 1.0f);
    cpu::maxpool2d_forward(s, x.data(), y.data(), host.i32(1), Stream::default_for(Device::cpu()));
  };
  mb.cpu = [s](const Args& a, const Stream& st) { cpu::maxpool2d_backward(s, a.f(0), a.i32(1), a.f(2), st); };
#if KILN_WITH_DEVICE
  mb.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
    gpu::maxpool2d_backward(s, a.f(0), a.i32(1), a.f(2), st);
  });
#endif
  mb.flops = X;  // one compare per covering window, about one per input
  mb.bytes = 4 * (2 * Y + X);
  mb.bench = bench;
  mb.exact = true;
  cases.push_back(mb);

  OpCase af;
  af.op = "avgpool2d_forward";
  af.shape = name;
  af.buffers = {{.name = "x", .numel = X}, {.name = "y", .numel = Y, .role = Role::Output, .accumulation = window}};
  af.cpu = [s](const Args& a, const Stream& st) { cpu::avgpool2d_forward(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  af.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::avgpool2d_forward(s, a.f(0), a.f(1), st); });
#endif
  af.flops = s.flops();
  af.bytes = s.bytes();
  af.bench = bench;
  af.gradient = Gradient{.of = {1}, .wrt = {0}, .max_checks = 1000};
  af.gradient->backward = [s](const Args&, const GradArgs& d, const Stream& st) {
    cpu::avgpool2d_backward(s, d.dy[0], d.dx[0], st);
  };
  cases.push_back(af);

  OpCase ab;
  ab.op = "avgpool2d_backward";
  ab.shape = name;
  ab.buffers = {{.name = "dy", .numel = Y}, {.name = "dx", .numel = X, .role = Role::Output, .accumulation = window}};
  ab.cpu = [s](const Args& a, const Stream& st) { cpu::avgpool2d_backward(s, a.f(0), a.f(1), st); };
#if KILN_WITH_DEVICE
  ab.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) { gpu::avgpool2d_backward(s, a.f(0), a.f(1), st); });
#endif
  ab.flops = s.flops();
  ab.bytes = s.bytes();
  ab.bench = bench;
  cases.push_back(ab);
}

Pool2dShape pool(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, bool count_pad = true,
                 bool ceil_mode = false) {
  Pool2dShape s;
  s.n = n, s.c = c, s.h = h, s.w = w;
  s.kernel_h = kh, s.kernel_w = kw, s.stride_h = sh, s.stride_w = sw, s.pad_h = ph, s.pad_w = pw;
  s.count_include_pad = count_pad;
  s.ceil_mode = ceil_mode;
  return s;
}

}  // namespace

void add_pool2d_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    const std::vector<Pool2dShape> shapes = {
        pool(1, 1, 1, 1, 1, 1, 1, 1, 0, 0),        // trivial
        pool(2, 3, 7, 7, 3, 3, 2, 2, 0, 0),        // AlexNet's 3x3/2, small plane
        pool(1, 3, 13, 13, 3, 3, 2, 2, 0, 0),      // AlexNet pool5 plane, batch 1
        pool(1, 2, 27, 27, 3, 3, 2, 2, 0, 0),      // AlexNet pool2 plane
        pool(2, 2, 7, 13, 2, 2, 2, 2, 1, 1),       // non-square input, padding
        pool(2, 2, 7, 13, 2, 2, 2, 2, 1, 1, false),
        pool(1, 5, 33, 33, 3, 3, 1, 1, 1, 1),      // stride 1: 9 windows cover each input
        pool(3, 1, 127, 3, 3, 1, 2, 1, 1, 0),      // non-square kernel and stride
        pool(2, 1, 5, 5, 5, 5, 3, 3, 2, 2),        // pad = kernel/2
        pool(2, 1, 5, 5, 5, 5, 3, 3, 2, 2, false),
        pool(1, 7, 12, 9, 4, 3, 3, 2, 2, 1),       // even kernel, mixed
        pool(2, 3, 8, 6, 3, 3, 2, 2, 0, 0, true, true),    // ceil mode: last windows hang over the edge
        pool(1, 2, 7, 9, 3, 3, 2, 2, 1, 1, false, true),   // ceil mode, padding, divisor inside the input
        pool(1, 2, 14, 14, 3, 3, 2, 2, 0, 0, true, true),  // GoogLeNet's 3x3/2 ceil pools
        pool(1, 1, 5, 5, 2, 2, 3, 3, 1, 1, true, true),    // a window that would start in the right padding
    };
    for (const auto& s : shapes) add_shape(cases, sizes, s, false);

    // NaN propagates: a window holding a NaN outputs it, with the NaN's index (PyTorch's rule).
    const Pool2dShape s = pool(2, 2, 9, 9, 3, 3, 2, 2, 1, 1);
    OpCase nan;
    nan.op = "maxpool2d_forward";
    nan.shape = shape_name(s) + "_with_nans";
    nan.buffers = {{.name = "x", .numel = s.x_size()},
                   {.name = "y", .numel = s.y_size(), .role = Role::Output},
                   {.name = "argmax", .numel = s.y_size(), .role = Role::Output, .dtype = DType::I32}};
    nan.prepare = [s](const Args& host) {
      for (int64_t i = 5; i < s.x_size(); i += 17) host.f(0)[i] = std::numeric_limits<float>::quiet_NaN();
    };
    nan.cpu = [s](const Args& a, const Stream& st) { cpu::maxpool2d_forward(s, a.f(0), a.f(1), a.i32(2), st); };
#if KILN_WITH_DEVICE
    nan.gpu = grid_stride_versions(sizes, [s](const Args& a, const Stream& st) {
      gpu::maxpool2d_forward(s, a.f(0), a.f(1), a.i32(2), st);
    });
#endif
    nan.flops = s.flops();
    nan.bytes = s.bytes() + 4 * s.y_size();
    nan.bench = false;
    nan.exact = true;
    cases.push_back(nan);
  } else {
    add_shape(cases, sizes, pool(128, 96, 55, 55, 3, 3, 2, 2, 0, 0), true);   // AlexNet pool1
    add_shape(cases, sizes, pool(128, 256, 27, 27, 3, 3, 2, 2, 0, 0), true);  // AlexNet pool2
    add_shape(cases, sizes, pool(128, 256, 13, 13, 3, 3, 2, 2, 0, 0), true);  // AlexNet pool5
  }
}

}  // namespace kiln::optable
