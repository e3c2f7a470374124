// cpu_fallback pooling (max and average) against the definitional loops.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/pool2d.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

std::vector<Pool2dShape> pool_shapes() {
  std::vector<Pool2dShape> out;
  const int hws[][2] = {{1, 1}, {7, 5}, {13, 13}, {3, 9}, {8, 6}};
  const int kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {3, 2}, {1, 3}};
  const int strides[][2] = {{1, 1}, {2, 2}, {3, 1}, {1, 2}};
  const int pads[][2] = {{0, 0}, {1, 1}, {1, 0}};
  int i = 0;
  for (auto& hw : hws)
    for (auto& k : kernels)
      for (auto& st : strides)
        for (auto& pd : pads) {
          Pool2dShape s{.n = 1 + i % 3, .c = 1 + (i * 7) % 4, .h = hw[0], .w = hw[1], .kernel_h = k[0],
                        .kernel_w = k[1], .stride_h = st[0], .stride_w = st[1], .pad_h = pd[0], .pad_w = pd[1],
                        .count_include_pad = i % 2 == 0};
          ++i;
          try {
            s.validate();
          } catch (const Error&) {
            continue;
          }
          out.push_back(s);
        }
  // AlexNet's overlapping 3x3 stride 2 pool (scaled down).
  out.push_back({.n = 2, .c = 3, .h = 27, .w = 27, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2});
  return out;
}

TEST(PoolReference, MaxAndAverageOnAGrid) {
  const Stream stream = Stream::default_for(Device::cpu());
  const auto shapes = pool_shapes();
  ASSERT_GE(shapes.size(), 150u);
  uint32_t seed = 7;
  for (const Pool2dShape& s : shapes) {
    SCOPED_TRACE(fmt::format("N{} C{} H{} W{} kernel {}x{} stride {}x{} pad {}x{} include_pad {}", s.n, s.c, s.h,
                             s.w, s.kernel_h, s.kernel_w, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
                             s.count_include_pad));
    const auto x = random_floats(s.x_size(), ++seed);
    const auto dy = random_floats(s.y_size(), ++seed);
    const size_t ny = static_cast<size_t>(s.y_size()), nx = static_cast<size_t>(s.x_size());
    std::vector<float> y(ny), dx(nx, NAN);
    std::vector<int32_t> am(ny), amr(ny);
    std::vector<double> yr(ny), dxr(nx);
    cpu::maxpool2d_forward(s, x.data(), y.data(), am.data(), stream);
    ref::maxpool2d_forward<double>(s, x.data(), yr.data(), amr.data());
    ASSERT_TRUE(all_close(y, yr, {0, 0}, "max forward"));
    ASSERT_EQ(am, amr) << "argmax";
    cpu::maxpool2d_backward(s, dy.data(), am.data(), dx.data(), stream);
    ref::maxpool2d_backward<double>(s, dy.data(), amr.data(), dxr.data());
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-6}, "max backward"));

    std::fill(dx.begin(), dx.end(), NAN);
    cpu::avgpool2d_forward(s, x.data(), y.data(), stream);
    ref::avgpool2d_forward<double>(s, x.data(), yr.data());
    ASSERT_TRUE(all_close(y, yr, {1e-6, 1e-6}, "avg forward"));
    cpu::avgpool2d_backward(s, dy.data(), dx.data(), stream);
    ref::avgpool2d_backward<double>(s, dy.data(), dxr.data());
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-6}, "avg backward"));
  }
}

TEST(PoolReference, MaxTiesGoToTheFirstInWindowOrder) {
  const Stream stream = Stream::default_for(Device::cpu());
  // All equal: each window picks its top-left in-image cell.
  const Pool2dShape s{.n = 1, .c = 1, .h = 5, .w = 5, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                      .pad_h = 1, .pad_w = 1};
  std::vector<float> x(25, 1.5f), y(9);
  std::vector<int32_t> am(9);
  cpu::maxpool2d_forward(s, x.data(), y.data(), am.data(), stream);
  const std::vector<int32_t> want = {0, 1, 3, 5, 6, 8, 15, 16, 18};
  EXPECT_EQ(am, want);
  // Overlapping windows: the shared maximum gets the sum of both windows' gradients.
  std::vector<float> dy(9, 1.0f), dx(25);
  cpu::maxpool2d_backward(s, dy.data(), am.data(), dx.data(), stream);
  EXPECT_EQ(dx[0], 1.0f);
  EXPECT_EQ(dx[6], 1.0f);
  EXPECT_EQ(dx[2], 0.0f);
  // Negative inputs against -inf padding: padding is never selected.
  std::vector<float> neg(25, -3.0f);
  cpu::maxpool2d_forward(s, neg.data(), y.data(), am.data(), stream);
  for (float v : y) EXPECT_EQ(v, -3.0f);
}

TEST(PoolReference, AverageCountIncludePad) {
  const Stream stream = Stream::default_for(Device::cpu());
  Pool2dShape s{.n = 1, .c = 1, .h = 2, .w = 2, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                .pad_h = 1, .pad_w = 1};
  std::vector<float> x = {1, 2, 3, 4}, y(4);
  cpu::avgpool2d_forward(s, x.data(), y.data(), stream);  // PyTorch: [[0.25, 0.5], [0.75, 1.0]]
  EXPECT_EQ(y, (std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f}));
  s.count_include_pad = false;
  cpu::avgpool2d_forward(s, x.data(), y.data(), stream);
  EXPECT_EQ(y, (std::vector<float>{1, 2, 3, 4}));
}

// Output sizes in ceil mode, as PyTorch's max_pool2d(..., ceil_mode=True) gives them for
// (H, kernel, stride, pad), and a 3x3/2 ceil pool of a 4x4 plane whose last windows hang over
// the edge: max over the cells inside, average over the cells within H + pad (PyTorch's divisor).
TEST(PoolReference, CeilModeSizesAndOverhangingWindows) {
  struct Case {
    int h, k, s, p, want;
  };
  for (const Case c : {Case{8, 3, 2, 0, 4}, Case{6, 3, 2, 0, 3}, Case{7, 3, 2, 1, 4}, Case{9, 3, 2, 1, 5},
                       Case{14, 3, 2, 0, 7}, Case{5, 2, 3, 1, 2}}) {
    Pool2dShape s{.h = c.h, .w = c.h, .kernel_h = c.k, .kernel_w = c.k, .stride_h = c.s, .stride_w = c.s,
                  .pad_h = c.p, .pad_w = c.p, .ceil_mode = true};
    EXPECT_EQ(s.p(), c.want) << "H " << c.h << ", kernel " << c.k << ", stride " << c.s << ", pad " << c.p;
    EXPECT_EQ(s.q(), c.want);
  }
  const Stream stream = Stream::default_for(Device::cpu());
  Pool2dShape s{.h = 4, .w = 4, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .ceil_mode = true};
  std::vector<float> x(16), y(4);
  std::vector<int32_t> am(4);
  for (int i = 0; i < 16; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
  cpu::maxpool2d_forward(s, x.data(), y.data(), am.data(), stream);  // PyTorch: [[10, 11], [14, 15]]
  EXPECT_EQ(y, (std::vector<float>{10, 11, 14, 15}));
  cpu::avgpool2d_forward(s, x.data(), y.data(), stream);  // windows of 9, 6, 6 and 4 cells
  EXPECT_EQ(y, (std::vector<float>{5, 6.5f, 11, 12.5f}));
}

TEST(PoolReference, BadShapes) {
  const Stream stream = Stream::default_for(Device::cpu());
  float buf[16] = {};
  Pool2dShape s{.h = 4, .w = 4, .kernel_h = 2, .kernel_w = 2, .pad_h = 2};
  EXPECT_THROW(cpu::maxpool2d_forward(s, buf, buf, nullptr, stream), Error);
}

}  // namespace
}  // namespace kiln
