// cpu_fallback conv2d against the definitional 7-loop convolution in double, over a grid of
// shapes (odd sizes, batch 1, stride/pad/dilation/groups, non-square images and kernels).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/conv2d.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::accumulation_tolerance;
using kiln::testing::all_close;
using kiln::testing::random_floats;

std::string describe(const Conv2dShape& s) {
  return fmt::format("N{} C{} H{} W{} K{} R{} S{} stride{}x{} pad{}x{} dil{}x{} groups{}", s.n, s.c, s.h, s.w, s.k,
                     s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.groups);
}

bool valid(const Conv2dShape& s) {
  try {
    s.validate();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A deterministic sample of a large grid of shapes, plus hand-picked ones.
std::vector<Conv2dShape> shapes() {
  std::vector<Conv2dShape> out;
  const int ns[] = {1, 2, 3};
  const int cs[] = {1, 3, 4, 6};
  const int hws[][2] = {{1, 1}, {7, 5}, {13, 7}, {3, 13}, {8, 8}};
  const int ks[] = {1, 2, 6};
  const int rss[][2] = {{1, 1}, {3, 3}, {2, 5}, {5, 3}, {1, 3}};
  const int strides[][2] = {{1, 1}, {2, 2}, {3, 1}, {1, 2}};
  const int pads[][2] = {{0, 0}, {1, 1}, {2, 0}, {0, 2}};
  const int dils[][2] = {{1, 1}, {2, 2}, {1, 3}};
  const int groupss[] = {1, 2, 3};
  uint64_t i = 0;
  for (int a = 0; a < 3 * 4 * 5 * 3 * 5 * 4 * 4 * 3 * 3; ++a) {
    // Walk the grid with a stride coprime to its size: every combination of adjacent axes is met.
    i = (i + 7919) % (3 * 4 * 5 * 3 * 5 * 4 * 4 * 3 * 3);
    uint64_t t = i;
    Conv2dShape s;
    s.n = ns[t % 3]; t /= 3;
    s.c = cs[t % 4]; t /= 4;
    s.h = hws[t % 5][0]; s.w = hws[t % 5][1]; t /= 5;
    s.k = ks[t % 3]; t /= 3;
    s.r = rss[t % 5][0]; s.s = rss[t % 5][1]; t /= 5;
    s.stride_h = strides[t % 4][0]; s.stride_w = strides[t % 4][1]; t /= 4;
    s.pad_h = pads[t % 4][0]; s.pad_w = pads[t % 4][1]; t /= 4;
    s.dilation_h = dils[t % 3][0]; s.dilation_w = dils[t % 3][1]; t /= 3;
    s.groups = groupss[t % 3];
    if (s.groups > 1) s.k *= s.groups;  // keep K divisible when possible
    if (valid(s)) out.push_back(s);
    if (out.size() >= 160) break;
  }
  // AlexNet-like layers, scaled down; pointwise; depthwise; a kernel as large as the input.
  out.push_back({.n = 2, .c = 3, .h = 39, .w = 39, .k = 8, .r = 11, .s = 11, .stride_h = 4, .stride_w = 4,
                 .pad_h = 2, .pad_w = 2});
  out.push_back({.n = 2, .c = 8, .h = 13, .w = 13, .k = 12, .r = 5, .s = 5, .pad_h = 2, .pad_w = 2, .groups = 2});
  out.push_back({.n = 3, .c = 8, .h = 7, .w = 9, .k = 16, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 2});
  out.push_back({.n = 2, .c = 16, .h = 5, .w = 7, .k = 8});
  out.push_back({.n = 3, .c = 6, .h = 9, .w = 9, .k = 6, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 6});
  out.push_back({.n = 1, .c = 2, .h = 5, .w = 4, .k = 3, .r = 5, .s = 4});
  out.push_back({.n = 1, .c = 1, .h = 1, .w = 1, .k = 1, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1});
  out.push_back({.n = 9, .c = 3, .h = 6, .w = 5, .k = 4, .r = 3, .s = 2, .stride_h = 2, .pad_h = 1});
  // Large enough for the batch-parallel path (cpu_fallback/conv2d.cpp: kParallelFlops).
  out.push_back({.n = 4, .c = 16, .h = 24, .w = 23, .k = 16, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 2});
  out.push_back({.n = 3, .c = 64, .h = 16, .w = 16, .k = 64});
  return out;
}

TEST(Conv2dReference, GridOfShapes) {
  const Stream stream = Stream::default_for(Device::cpu());
  const auto all = shapes();
  ASSERT_GE(all.size(), 150u);
  EXPECT_GE(all.back().flops(), int64_t{1} << 21) << "the batch-parallel path is exercised";
  EXPECT_GE(all[all.size() - 2].flops(), int64_t{1} << 21);
  int idx = 0;
  for (const Conv2dShape& s : all) {
    SCOPED_TRACE(describe(s));
    const uint32_t seed = 1000u + static_cast<uint32_t>(idx++);
    const auto x = random_floats(s.x_size(), seed);
    const auto w = random_floats(s.w_size(), seed + 1);
    const auto b = random_floats(s.k, seed + 2);
    const auto dy = random_floats(s.y_size(), seed + 3);
    const auto tol = accumulation_tolerance(s.crs() + 1);

    // forward, with and without bias
    std::vector<float> y(static_cast<size_t>(s.y_size()), std::numeric_limits<float>::quiet_NaN());
    std::vector<double> yr(y.size());
    const bool with_bias = idx % 2 == 0;
    cpu::conv2d_forward(s, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data(), stream);
    ref::conv2d_forward<double>(s, x.data(), w.data(), with_bias ? b.data() : nullptr, yr.data());
    ASSERT_TRUE(all_close(y, yr, tol, "forward"));

    // backward_data: written over garbage
    std::vector<float> dx(static_cast<size_t>(s.x_size()), std::numeric_limits<float>::quiet_NaN());
    std::vector<double> dxr(dx.size());
    cpu::conv2d_backward_data(s, dy.data(), w.data(), dx.data(), stream);
    ref::conv2d_backward_data<double>(s, dy.data(), w.data(), dxr.data());
    const int64_t taps_per_x = static_cast<int64_t>(s.k_per_group()) * s.r * s.s;
    ASSERT_TRUE(all_close(dx, dxr, accumulation_tolerance(taps_per_x + 1), "backward_data"));

    // backward_filter and bias: accumulated onto existing values
    auto dw = random_floats(s.w_size(), seed + 4);
    std::vector<double> dwr(dw.begin(), dw.end());
    cpu::conv2d_backward_filter(s, x.data(), dy.data(), dw.data(), stream);
    ref::conv2d_backward_filter<double>(s, x.data(), dy.data(), dwr.data());
    const int64_t npq = static_cast<int64_t>(s.n) * s.p() * s.q();
    ASSERT_TRUE(all_close(dw, dwr, accumulation_tolerance(npq + 1), "backward_filter"));

    auto db = random_floats(s.k, seed + 5);
    std::vector<double> dbr(db.begin(), db.end());
    cpu::conv2d_backward_bias(s, dy.data(), db.data(), stream);
    ref::conv2d_backward_bias<double>(s, dy.data(), dbr.data());
    ASSERT_TRUE(all_close(db, dbr, accumulation_tolerance(npq + 1), "backward_bias"));
  }
}

TEST(Conv2dReference, ParamGradsAccumulateInputGradsOverwrite) {
  const Stream stream = Stream::default_for(Device::cpu());
  const Conv2dShape s{.n = 3, .c = 4, .h = 7, .w = 6, .k = 4, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 2};
  const auto x = random_floats(s.x_size(), 1), w = random_floats(s.w_size(), 2), dy = random_floats(s.y_size(), 3);
  std::vector<float> dw1(static_cast<size_t>(s.w_size()), 0.0f), dw2 = dw1, db1(s.k, 0.0f), db2 = db1;
  cpu::conv2d_backward_filter(s, x.data(), dy.data(), dw1.data(), stream);
  cpu::conv2d_backward_filter(s, x.data(), dy.data(), dw2.data(), stream);
  cpu::conv2d_backward_filter(s, x.data(), dy.data(), dw2.data(), stream);
  for (auto& v : dw1) v *= 2.0f;
  EXPECT_TRUE(all_close(dw2, dw1, {1e-6, 1e-6}, "dw after two calls == 2x one call"));
  cpu::conv2d_backward_bias(s, dy.data(), db1.data(), stream);
  cpu::conv2d_backward_bias(s, dy.data(), db2.data(), stream);
  cpu::conv2d_backward_bias(s, dy.data(), db2.data(), stream);
  for (auto& v : db1) v *= 2.0f;
  EXPECT_TRUE(all_close(db2, db1, {1e-6, 1e-6}, "db after two calls == 2x one call"));

  std::vector<float> dx1(static_cast<size_t>(s.x_size()), 0.0f), dx2(dx1.size(), 123.0f);
  cpu::conv2d_backward_data(s, dy.data(), w.data(), dx1.data(), stream);
  cpu::conv2d_backward_data(s, dy.data(), w.data(), dx2.data(), stream);
  cpu::conv2d_backward_data(s, dy.data(), w.data(), dx2.data(), stream);
  EXPECT_EQ(0, std::memcmp(dx1.data(), dx2.data(), dx1.size() * sizeof(float))) << "dx is overwritten";
}

TEST(Conv2dReference, SameBitsForAnyThreadCount) {
  const Stream stream = Stream::default_for(Device::cpu());
  // Above the parallel threshold (2^21 flops), and N not a multiple of the thread counts.
  const Conv2dShape s{.n = 11, .c = 16, .h = 20, .w = 18, .k = 16, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 2};
  ASSERT_GE(s.flops(), int64_t{1} << 21);
  const auto x = random_floats(s.x_size(), 4), w = random_floats(s.w_size(), 5), dy = random_floats(s.y_size(), 6);
  const int saved = omp_get_max_threads();
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    std::vector<float> y(static_cast<size_t>(s.y_size())), dx(static_cast<size_t>(s.x_size())),
        dw(static_cast<size_t>(s.w_size()), 0.0f), db(s.k, 0.0f);
    cpu::conv2d_forward(s, x.data(), w.data(), w.data(), y.data(), stream);
    cpu::conv2d_backward_data(s, dy.data(), w.data(), dx.data(), stream);
    cpu::conv2d_backward_filter(s, x.data(), dy.data(), dw.data(), stream);
    cpu::conv2d_backward_bias(s, dy.data(), db.data(), stream);
    std::vector<float> all = y;
    all.insert(all.end(), dx.begin(), dx.end());
    all.insert(all.end(), dw.begin(), dw.end());
    all.insert(all.end(), db.begin(), db.end());
    outs.push_back(all);
  }
  omp_set_num_threads(saved);
  for (size_t i = 1; i < outs.size(); ++i)
    EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * sizeof(float)))
        << "thread count " << i + 1 << " changed the bits";
}

TEST(Conv2dReference, BadShapesNameTheProblem) {
  const Stream stream = Stream::default_for(Device::cpu());
  float dummy[64] = {};
  auto message = [&](Conv2dShape s) -> std::string {
    try {
      cpu::conv2d_forward(s, dummy, dummy, nullptr, dummy, stream);
    } catch (const Error& e) {
      return e.message();
    }
    return "no error";
  };
  EXPECT_NE(message({.c = 3, .k = 2, .groups = 2}).find("groups=2 does not divide in_channels=3"), std::string::npos);
  EXPECT_NE(message({.c = 2, .k = 3, .groups = 2}).find("out_channels=3"), std::string::npos);
  EXPECT_NE(message({.h = 2, .w = 2, .r = 3, .s = 3}).find("larger than the padded input"), std::string::npos);
  EXPECT_NE(message({.stride_h = 0}).find("stride"), std::string::npos);
  EXPECT_NE(message({.n = 0}).find("conv2d: input"), std::string::npos);
}

}  // namespace
}  // namespace kiln
