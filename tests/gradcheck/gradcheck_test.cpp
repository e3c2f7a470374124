// Finite-difference gradient checks for the backward of every cpu_fallback op.
#include "tests/gradcheck/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/stream.h"
#include "kernels/activation.h"
#include "kernels/bias.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/lrn.h"
#include "kernels/pool2d.h"
#include "kernels/rnn.h"
#include "kernels/softmax_xent.h"
#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::check_gradient;
using kiln::testing::random_floats;
using kiln::testing::weighted_sum;

// Distinct values spaced `gap` apart in random order: no ties within 2*eps for max pooling.
std::vector<float> distinct_values(int64_t n, uint32_t seed, float gap) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i) - static_cast<float>(n) / 2) * gap;
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  return v;
}

TEST(Gradcheck, Conv2d) {
  const Stream stream = Stream::default_for(Device::cpu());
  const Conv2dShape shapes[] = {
      {.n = 2, .c = 4, .h = 7, .w = 6, .k = 4, .r = 3, .s = 2, .stride_h = 2, .pad_h = 1, .pad_w = 1, .groups = 2},
      {.n = 1, .c = 3, .h = 9, .w = 9, .k = 5, .r = 3, .s = 3, .pad_h = 2, .pad_w = 2, .dilation_h = 2,
       .dilation_w = 2},
      {.n = 3, .c = 2, .h = 5, .w = 4, .k = 3},
      {.n = 2, .c = 3, .h = 15, .w = 15, .k = 4, .r = 5, .s = 5, .stride_h = 3, .stride_w = 3, .pad_h = 2, .pad_w = 2}};
  for (const Conv2dShape& s : shapes) {
    auto x = random_floats(s.x_size(), 1), w = random_floats(s.w_size(), 2), b = random_floats(s.k, 3);
    const auto g = random_floats(s.y_size(), 4);
    std::vector<float> y(static_cast<size_t>(s.y_size()));
    auto objective = [&] {
      cpu::conv2d_forward(s, x.data(), w.data(), b.data(), y.data(), stream);
      return weighted_sum(g, y);
    };
    std::vector<float> dx(x.size()), dw(w.size(), 0.0f), db(b.size(), 0.0f);
    cpu::conv2d_backward_data(s, g.data(), w.data(), dx.data(), stream);
    cpu::conv2d_backward_filter(s, x.data(), g.data(), dw.data(), stream);
    cpu::conv2d_backward_bias(s, g.data(), db.data(), stream);
    EXPECT_TRUE(check_gradient(x, dx, objective, 1e-2f, 1e-3, 1e-3, "conv2d dx"));
    EXPECT_TRUE(check_gradient(w, dw, objective, 1e-2f, 1e-3, 1e-3, "conv2d dw"));
    EXPECT_TRUE(check_gradient(b, db, objective, 1e-2f, 1e-3, 1e-3, "conv2d db"));
  }
}

TEST(Gradcheck, MaxAndAveragePool) {
  const Stream stream = Stream::default_for(Device::cpu());
  const Pool2dShape shapes[] = {
      {.n = 2, .c = 2, .h = 9, .w = 9, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2},
      {.n = 1, .c = 3, .h = 7, .w = 6, .kernel_h = 3, .kernel_w = 2, .stride_h = 1, .stride_w = 2, .pad_h = 1,
       .pad_w = 1, .count_include_pad = false},
      {.n = 1, .c = 1, .h = 5, .w = 5, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1,
       .pad_w = 1}};
  for (const Pool2dShape& s : shapes) {
    auto x = distinct_values(s.x_size(), 5, 0.05f);
    const auto g = random_floats(s.y_size(), 6);
    std::vector<float> y(static_cast<size_t>(s.y_size())), dx(x.size());
    std::vector<int32_t> am(y.size());
    auto max_objective = [&] {
      cpu::maxpool2d_forward(s, x.data(), y.data(), am.data(), stream);
      return weighted_sum(g, y);
    };
    max_objective();
    cpu::maxpool2d_backward(s, g.data(), am.data(), dx.data(), stream);
    EXPECT_TRUE(check_gradient(x, dx, max_objective, 1e-3f, 1e-3, 1e-3, "maxpool dx", 1000));
    auto avg_objective = [&] {
      cpu::avgpool2d_forward(s, x.data(), y.data(), stream);
      return weighted_sum(g, y);
    };
    cpu::avgpool2d_backward(s, g.data(), dx.data(), stream);
    EXPECT_TRUE(check_gradient(x, dx, avg_objective, 1e-2f, 1e-3, 1e-3, "avgpool dx", 1000));
  }
}

TEST(Gradcheck, SoftmaxCrossEntropy) {
  const Stream stream = Stream::default_for(Device::cpu());
  const SoftmaxXentShape s{.n = 6, .c = 7};
  auto logits = random_floats(s.size(), 7, -3.0f, 3.0f);
  const std::vector<int32_t> labels = {0, 6, -100, 3, 3, 1};
  float mean = 0;
  auto objective = [&] {
    cpu::softmax_xent_forward(s, logits.data(), labels.data(), nullptr, &mean, stream);
    return 2.5 * static_cast<double>(mean);
  };
  std::vector<float> d(logits.size());
  cpu::softmax_xent_backward(s, logits.data(), labels.data(), 2.5f, d.data(), stream);
  EXPECT_TRUE(check_gradient(logits, d, objective, 1e-2f, 2e-4, 1e-2, "softmax_xent dlogits", 1000));
}

TEST(Gradcheck, LinearLayerFromGemmAndBias) {
  // y (N, O) = x (N, I) W^T + b: dx = dy W; dW += dy^T x; db += colsum(dy).
  const Stream stream = Stream::default_for(Device::cpu());
  const int N = 5, I = 7, O = 4;
  auto x = random_floats(N * I, 8), w = random_floats(O * I, 9), b = random_floats(O, 10);
  const auto g = random_floats(N * O, 11);
  std::vector<float> y(N * O);
  auto objective = [&] {
    cpu::gemm({.m = N, .n = O, .k = I, .trans_b = true}, x.data(), w.data(), y.data(), stream);
    cpu::bias_add({.n = N, .c = O}, b.data(), y.data(), stream);
    return weighted_sum(g, y);
  };
  std::vector<float> dx(x.size()), dw(w.size(), 0.0f), db(b.size(), 0.0f);
  cpu::gemm({.m = N, .n = I, .k = O}, g.data(), w.data(), dx.data(), stream);
  cpu::gemm({.m = O, .n = I, .k = N, .trans_a = true, .beta = 1.0f}, g.data(), x.data(), dw.data(), stream);
  cpu::bias_backward({.n = N, .c = O}, g.data(), db.data(), stream);
  EXPECT_TRUE(check_gradient(x, dx, objective, 1e-2f, 1e-4, 1e-3, "linear dx"));
  EXPECT_TRUE(check_gradient(w, dw, objective, 1e-2f, 1e-4, 1e-3, "linear dw"));
  EXPECT_TRUE(check_gradient(b, db, objective, 1e-2f, 1e-4, 1e-3, "linear db"));
}

TEST(Gradcheck, Activations) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (ActivationShape s : {ActivationShape{.kind = Activation::relu},
                            ActivationShape{.kind = Activation::leaky_relu, .param = 0.1f},
                            ActivationShape{.kind = Activation::elu, .param = 0.7f},
                            ActivationShape{.kind = Activation::sigmoid}, ActivationShape{.kind = Activation::tanh}}) {
    SCOPED_TRACE(activation_name(s.kind));
    s.count = 64;
    auto x = random_floats(s.count, 12, -3.0f, 3.0f);
    for (auto& v : x)
      if (std::fabs(v) < 0.1f) v += v < 0 ? -0.1f : 0.1f;  // away from the kink at 0
    const auto g = random_floats(s.count, 13);
    std::vector<float> y(x.size()), dx(x.size());
    auto objective = [&] {
      cpu::activation_forward(s, x.data(), y.data(), stream);
      return weighted_sum(g, y);
    };
    objective();
    cpu::activation_backward(s, y.data(), g.data(), dx.data(), stream);
    EXPECT_TRUE(check_gradient(x, dx, objective, 1e-3f, 2e-4, 2e-3, "activation dx", 64));
  }
}

TEST(Gradcheck, Lrn) {
  const Stream stream = Stream::default_for(Device::cpu());
  const LrnShape shapes[] = {{.n = 2, .c = 7, .h = 3, .w = 2, .size = 3, .alpha = 0.5f, .beta = 0.75f, .k = 1.0f},
                             {.n = 1, .c = 8, .h = 2, .w = 2, .size = 4, .alpha = 1.0f, .beta = 0.6f, .k = 2.0f},
                             {.n = 1, .c = 12, .h = 2, .w = 3}};  // AlexNet's constants
  for (const LrnShape& s : shapes) {
    const float amp = s.alpha < 1e-3f ? 30.0f : 1.5f;
    auto x = random_floats(s.x_size(), 14, -amp, amp);
    const auto g = random_floats(s.x_size(), 15);
    std::vector<float> y(x.size()), scale(x.size()), dx(x.size());
    auto objective = [&] {
      cpu::lrn_forward(s, x.data(), y.data(), scale.data(), stream);
      return weighted_sum(g, y);
    };
    objective();
    cpu::lrn_backward(s, x.data(), y.data(), scale.data(), g.data(), dx.data(), stream);
    EXPECT_TRUE(check_gradient(x, dx, objective, amp * 1e-2f, 5e-4, 5e-3, "lrn dx", 200));
  }
}

TEST(Gradcheck, Dropout) {
  const Stream stream = Stream::default_for(Device::cpu());
  const DropoutShape s{.count = 300, .p = 0.3f, .seed = 5, .offset = 9};
  auto x = random_floats(s.count, 16);
  const auto g = random_floats(s.count, 17);
  std::vector<float> y(x.size()), dx(x.size());
  auto objective = [&] {
    cpu::dropout_forward(s, x.data(), y.data(), stream);
    return weighted_sum(g, y);
  };
  cpu::dropout_backward(s, g.data(), dx.data(), stream);
  EXPECT_TRUE(check_gradient(x, dx, objective, 1e-2f, 1e-4, 1e-3, "dropout dx", 300));
}

TEST(Gradcheck, RnnCell) {
  // h = act(xg + hg + b_ih + b_hh) with xg rows strided: dxg = dhg = da (0 in xg's gaps),
  // db_ih = db_hh = colsum(da).
  const Stream stream = Stream::default_for(Device::cpu());
  for (RnnActivation act : {RnnActivation::Tanh, RnnActivation::Relu}) {
    SCOPED_TRACE(act == RnnActivation::Relu ? "relu" : "tanh");
    const RnnCellShape s{.n = 4, .h = 7, .x_stride = 10, .activation = act};
    const int N = s.n, H = s.h;
    const int64_t xs = s.xg_stride();
    auto hg = random_floats(s.cells(), 18), b_ih = random_floats(H, 19), b_hh = random_floats(H, 20);
    auto xg = random_floats((N - 1) * xs + H, 21);
    // Pre-activations at least 0.2 from relu's kink at 0 (eps is 1e-3): xg = target - the rest.
    const auto target = random_floats(s.cells(), 22, -2.0f, 2.0f);
    for (int r = 0; r < N; ++r)
      for (int j = 0; j < H; ++j) {
        float t = target[r * H + j];
        if (std::fabs(t) < 0.2f) t += t < 0 ? -0.2f : 0.2f;
        xg[r * xs + j] = t - hg[r * H + j] - b_ih[j] - b_hh[j];
      }
    const auto g = random_floats(s.cells(), 23);
    std::vector<float> h(static_cast<size_t>(s.cells())), da(h.size());
    auto objective = [&] {
      cpu::rnn_cell_forward(s, xg.data(), hg.data(), b_ih.data(), b_hh.data(), h.data(), stream);
      return weighted_sum(g, h);
    };
    objective();
    cpu::rnn_cell_backward(s, h.data(), g.data(), da.data(), stream);
    std::vector<float> dxg(xg.size(), 0.0f), db(H, 0.0f);
    for (int r = 0; r < N; ++r)
      for (int j = 0; j < H; ++j) {
        dxg[r * xs + j] = da[r * H + j];
        db[j] += da[r * H + j];
      }
    EXPECT_TRUE(check_gradient(xg, dxg, objective, 1e-3f, 2e-4, 2e-3, "rnn dxg", 1000));
    EXPECT_TRUE(check_gradient(hg, da, objective, 1e-3f, 2e-4, 2e-3, "rnn dhg", 1000));
    EXPECT_TRUE(check_gradient(b_ih, db, objective, 1e-3f, 2e-4, 2e-3, "rnn db_ih", 1000));
    EXPECT_TRUE(check_gradient(b_hh, db, objective, 1e-3f, 2e-4, 2e-3, "rnn db_hh", 1000));
  }
}

}  // namespace
}  // namespace kiln
