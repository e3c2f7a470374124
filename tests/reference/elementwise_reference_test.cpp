// cpu_fallback gemm, bias, activations, LRN, dropout, optimisers and reductions against the
// definitional loops and hand-computed PyTorch formulas.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "core/stream.h"
#include "kernels/activation.h"
#include "kernels/bias.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/lrn.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::accumulation_tolerance;
using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(GemmReference, TransposesAndOddSizes) {
  const Stream stream = Stream::default_for(Device::cpu());
  uint32_t seed = 1;
  for (int m : {1, 3, 17})
    for (int n : {1, 7, 33})
      for (int k : {1, 13, 127})
        for (int t = 0; t < 4; ++t) {
          GemmShape s{.m = m, .n = n, .k = k, .trans_a = (t & 1) != 0, .trans_b = (t & 2) != 0,
                      .alpha = t == 3 ? 0.5f : 1.0f, .beta = t >= 2 ? 0.75f : 0.0f};
          SCOPED_TRACE(fmt::format("M{} N{} K{} ta{} tb{} alpha{} beta{}", m, n, k, s.trans_a, s.trans_b, s.alpha,
                                   s.beta));
          const auto a = random_floats(s.a_size(), ++seed), b = random_floats(s.b_size(), ++seed);
          auto c = random_floats(s.c_size(), ++seed);
          if (s.beta == 0.0f) std::fill(c.begin(), c.end(), NAN);  // beta = 0 ignores C, even NaN
          std::vector<double> cr(c.begin(), c.end());
          cpu::gemm(s, a.data(), b.data(), c.data(), stream);
          ref::gemm<double>(s, a.data(), b.data(), cr.data());
          ASSERT_TRUE(all_close(c, cr, accumulation_tolerance(k + 1), "gemm"));
        }
}

TEST(BiasReference, AddAndAccumulatedGradient) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (BiasShape s : {BiasShape{.n = 3, .c = 5, .inner = 13 * 7}, BiasShape{.n = 1, .c = 1, .inner = 1},
                      BiasShape{.n = 64, .c = 1000, .inner = 1}, BiasShape{.n = 2, .c = 96, .inner = 55 * 55}}) {
    const auto b = random_floats(s.c, 3);
    auto y = random_floats(s.size(), 4);
    std::vector<double> yr(y.begin(), y.end());
    cpu::bias_add(s, b.data(), y.data(), stream);
    ref::bias_add<double>(s, b.data(), yr.data());
    ASSERT_TRUE(all_close(y, yr, {1e-7, 1e-6}, "bias_add"));
    auto db = random_floats(s.c, 5);
    std::vector<double> dbr(db.begin(), db.end());
    cpu::bias_backward(s, y.data(), db.data(), stream);
    cpu::bias_backward(s, y.data(), db.data(), stream);  // accumulates: twice the gradient
    ref::bias_backward<double>(s, y.data(), dbr.data());
    ref::bias_backward<double>(s, y.data(), dbr.data());
    ASSERT_TRUE(all_close(db, dbr, {1e-5, 1e-6}, "bias_backward"));
  }
}

TEST(ActivationReference, ForwardBackwardAndInPlace) {
  const Stream stream = Stream::default_for(Device::cpu());
  const ActivationShape kinds[] = {{.kind = Activation::Relu},
                                   {.kind = Activation::LeakyRelu, .param = 0.01f},
                                   {.kind = Activation::LeakyRelu, .param = 0.2f},
                                   {.kind = Activation::Elu, .param = 1.0f},
                                   {.kind = Activation::Elu, .param = 0.5f},
                                   {.kind = Activation::Sigmoid},
                                   {.kind = Activation::Tanh}};
  for (ActivationShape s : kinds) {
    SCOPED_TRACE(activation_name(s.kind));
    s.count = 100003;  // crosses the parallel threshold, odd
    auto x = random_floats(s.count, 11, -6.0f, 6.0f);
    x[0] = 0.0f;  // the kink: left derivative
    x[1] = -90.0f;
    x[2] = 90.0f;
    const auto dy = random_floats(s.count, 12);
    std::vector<float> y(x.size()), dx(x.size());
    cpu::activation_forward(s, x.data(), y.data(), stream);
    cpu::activation_backward(s, y.data(), dy.data(), dx.data(), stream);
    std::vector<double> yr(x.size()), dxr(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      yr[i] = ref::activation<double>(s.kind, s.param, x[i]);
      dxr[i] = dy[i] * ref::activation_derivative<double>(s.kind, s.param, x[i]);
    }
    ASSERT_TRUE(all_close(y, yr, {1e-7, 4e-7}, "forward"));
    // Reading the derivative from the rounded y costs a few ulps of y (1 - y^2 near |y| = 1).
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-5}, "backward"));
    // In place: forward x == y, backward dx == dy, same bits.
    std::vector<float> inplace = x;
    cpu::activation_forward(s, inplace.data(), inplace.data(), stream);
    EXPECT_EQ(0, std::memcmp(inplace.data(), y.data(), y.size() * 4));
    std::vector<float> g = dy;
    cpu::activation_backward(s, inplace.data(), g.data(), g.data(), stream);
    EXPECT_EQ(0, std::memcmp(g.data(), dx.data(), dx.size() * 4));
  }
  EXPECT_THROW(cpu::activation_forward({.count = 1, .kind = Activation::Elu, .param = 0.0f}, nullptr, nullptr,
                                       stream),
               Error);
}

TEST(LrnReference, AlexNetAndEvenSizes) {
  const Stream stream = Stream::default_for(Device::cpu());
  const LrnShape shapes[] = {{.n = 2, .c = 16, .h = 5, .w = 7},
                             {.n = 1, .c = 3, .h = 1, .w = 1},
                             {.n = 2, .c = 7, .h = 3, .w = 4, .size = 4, .alpha = 0.5f, .beta = 0.6f, .k = 1.0f},
                             {.n = 1, .c = 9, .h = 2, .w = 3, .size = 3, .alpha = 2.0f, .beta = 1.5f, .k = 0.5f}};
  for (const LrnShape& s : shapes) {
    SCOPED_TRACE(fmt::format("C{} size{} alpha{} beta{} k{}", s.c, s.size, s.alpha, s.beta, s.k));
    // Large inputs so alpha/size * x^2 matters at AlexNet's alpha (activations ~ tens).
    const float amp = s.alpha < 1e-3f ? 40.0f : 1.5f;
    const auto x = random_floats(s.x_size(), 21, -amp, amp);
    const auto dy = random_floats(s.x_size(), 22);
    std::vector<float> y(x.size()), scale(x.size()), dx(x.size(), NAN);
    cpu::lrn_forward(s, x.data(), y.data(), scale.data(), stream);
    cpu::lrn_backward(s, x.data(), y.data(), scale.data(), dy.data(), dx.data(), stream);
    std::vector<double> yr(x.size()), dxr(x.size());
    ref::lrn_forward<double>(s, x.data(), yr.data());
    ref::lrn_backward<double>(s, x.data(), dy.data(), dxr.data());
    ASSERT_TRUE(all_close(y, yr, {1e-6, 2e-6}, "forward"));
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-5}, "backward"));
  }
}

TEST(DropoutReference, MaskRuleScaleAndStatistics) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
    SCOPED_TRACE(fmt::format("p={}", p));
    const DropoutShape s{.count = 200001, .p = p, .seed = 0x1234abcdULL, .offset = 17};
    const auto x = random_floats(s.count, 31);
    std::vector<float> y(x.size()), dx(x.size());
    std::vector<uint8_t> mask(x.size());
    cpu::dropout_forward(s, x.data(), y.data(), stream);
    cpu::dropout_backward(s, x.data(), dx.data(), stream);
    cpu::dropout_mask(s, mask.data(), stream);
    int64_t kept = 0;
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < s.count; ++i) {
      const bool k = ref::dropout_kept(s, i);
      ASSERT_EQ(mask[i], k ? 1 : 0) << i;
      ASSERT_EQ(y[i], k ? x[i] * scale : 0.0f) << i;
      ASSERT_EQ(dx[i], y[i]) << i;  // backward of dy = x is the same map
      kept += k;
    }
    // Binomial: 5 standard deviations.
    const double mean = (1.0 - p) * s.count, sd = std::sqrt(s.count * p * (1.0 - p));
    EXPECT_NEAR(static_cast<double>(kept), mean, 5 * sd + 1e-9);
  }
}

TEST(DropoutReference, ReproducibleFromSeedAndOffset) {
  const Stream stream = Stream::default_for(Device::cpu());
  DropoutShape s{.count = 1001, .p = 0.5f, .seed = 42, .offset = 0};
  std::vector<uint8_t> a(1001), b(1001), c(1001), d(1001);
  cpu::dropout_mask(s, a.data(), stream);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::dropout_mask(s, b.data(), stream);
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b) << "same (seed, offset): same mask, any thread count";
  s.offset = s.blocks_used();
  cpu::dropout_mask(s, c.data(), stream);
  EXPECT_NE(a, c) << "the next offset gives a fresh mask";
  // Offset o + 1 starts 4 elements (one Philox block) further along the stream of offset o.
  DropoutShape shifted = s;
  shifted.offset = s.offset + 1;
  cpu::dropout_mask(shifted, d.data(), stream);
  EXPECT_EQ(0, std::memcmp(c.data() + 4, d.data(), 997));
  s.seed = 43;
  s.offset = 0;
  cpu::dropout_mask(s, d.data(), stream);
  EXPECT_NE(a, d) << "another seed gives another mask";
  // The threshold rule at its edges.
  EXPECT_EQ(dropout_threshold(0.0f), 0u);
  EXPECT_EQ(dropout_threshold(0.5f), 0x80000000u);
  EXPECT_EQ(dropout_threshold(0.25f), 0x40000000u);
}

TEST(OptimReference, SgdMomentumNesterovWeightDecay) {
  const Stream stream = Stream::default_for(Device::cpu());
  const SgdShape configs[] = {{.lr = 0.1f},
                              {.lr = 0.1f, .momentum = 0.9f},
                              {.lr = 0.05f, .momentum = 0.9f, .dampening = 0.1f, .weight_decay = 1e-2f},
                              {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true}};
  for (SgdShape s : configs) {
    SCOPED_TRACE(fmt::format("lr{} momentum{} dampening{} wd{} nesterov{}", s.lr, s.momentum, s.dampening,
                             s.weight_decay, s.nesterov));
    s.count = 37;
    auto param = random_floats(s.count, 41);
    std::vector<float> buf(param.size(), 0.0f);
    std::vector<double> pr(param.begin(), param.end()), br(param.size(), 0.0);
    for (int t = 1; t <= 5; ++t) {
      s.step = t;
      const auto grad = random_floats(s.count, 100 + t);
      cpu::sgd_update(s, param.data(), grad.data(), s.momentum != 0.0f ? buf.data() : nullptr, stream);
      for (size_t i = 0; i < param.size(); ++i) ref::sgd_step<double>(s, pr[i], grad[i], br[i]);
    }
    ASSERT_TRUE(all_close(param, pr, {1e-6, 1e-6}, "param after 5 steps"));
  }
  // A hand-computed case (PyTorch: SGD(lr=0.1, momentum=0.9, nesterov=True), p=1, g=0.5 twice):
  //  t1: buf = 0.5, g = 0.5 + 0.9*0.5 = 0.95, p = 0.905
  //  t2: buf = 0.9*0.5 + 0.5 = 0.95, g = 0.5 + 0.855 = 1.355, p = 0.7695
  SgdShape s{.count = 1, .lr = 0.1f, .momentum = 0.9f, .nesterov = true};
  float p = 1.0f, buf = 0.0f, g = 0.5f;
  cpu::sgd_update(s, &p, &g, &buf, stream);
  EXPECT_NEAR(p, 0.905f, 1e-6);
  s.step = 2;
  cpu::sgd_update(s, &p, &g, &buf, stream);
  EXPECT_NEAR(p, 0.7695f, 1e-6);
}

TEST(OptimReference, AdamAndAdamW) {
  const Stream stream = Stream::default_for(Device::cpu());
  const AdamShape configs[] = {{.lr = 1e-3f},
                               {.lr = 1e-2f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.1f},
                               {.lr = 1e-2f, .weight_decay = 1e-2f, .decoupled = true}};
  for (AdamShape s : configs) {
    SCOPED_TRACE(fmt::format("lr{} wd{} decoupled{}", s.lr, s.weight_decay, s.decoupled));
    s.count = 41;
    auto param = random_floats(s.count, 51);
    std::vector<float> m(param.size(), 0.0f), v(param.size(), 0.0f);
    std::vector<double> pr(param.begin(), param.end()), mr(param.size(), 0.0), vr(param.size(), 0.0);
    for (int t = 1; t <= 6; ++t) {
      s.step = t;
      const auto grad = random_floats(s.count, 200 + t);
      cpu::adam_update(s, param.data(), grad.data(), m.data(), v.data(), stream);
      for (size_t i = 0; i < param.size(); ++i) ref::adam_step<double>(s, pr[i], grad[i], mr[i], vr[i]);
    }
    ASSERT_TRUE(all_close(param, pr, {2e-6, 2e-6}, "param after 6 steps"));
    ASSERT_TRUE(all_close(m, mr, {1e-6, 1e-5}, "m"));
    ASSERT_TRUE(all_close(v, vr, {1e-7, 1e-5}, "v"));
  }
  // Hand-computed first step: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2,
  // p -= lr * g / (|g| + eps) = lr * sign(g) (up to eps).
  AdamShape s{.count = 1, .lr = 0.01f};
  float p = 1.0f, g = -3.0f, m = 0, v = 0;
  cpu::adam_update(s, &p, &g, &m, &v, stream);
  EXPECT_NEAR(p, 1.01f, 1e-6);
  // AdamW decays the parameter before the step: p = 1 * (1 - 0.01 * 0.5) + 0.01.
  AdamShape w{.count = 1, .lr = 0.01f, .weight_decay = 0.5f, .decoupled = true};
  p = 1.0f, m = 0, v = 0;
  cpu::adam_update(w, &p, &g, &m, &v, stream);
  EXPECT_NEAR(p, 0.995f + 0.01f, 1e-6);
}

TEST(ReduceReference, SumSquaresAndAccuracy) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (int64_t n : {0, 1, 7, 16384, 16385, 1000003}) {
    const auto x = random_floats(n, 61);
    double s = 0, ss = 0;
    for (float v : x) s += v, ss += static_cast<double>(v) * v;
    float out = NAN, out2 = NAN;
    cpu::reduce_sum({.count = n}, x.data(), &out, stream);
    cpu::reduce_sum_squares({.count = n}, x.data(), &out2, stream);
    EXPECT_NEAR(out, s, 1e-6 * std::max(1.0, std::fabs(s))) << n;
    EXPECT_NEAR(out2, ss, 1e-6 * std::max(1.0, ss)) << n;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    float one = NAN;
    cpu::reduce_sum({.count = n}, x.data(), &one, stream);
    omp_set_num_threads(saved);
    EXPECT_EQ(one, out) << "same bits for any thread count";
  }
  const AccuracyShape a{.n = 5, .c = 3};
  const std::vector<float> logits = {0, 1, 2, /**/ 5, 5, 1, /**/ 1, 0, 0, /**/ 0, 2, 1, /**/ 9, 0, 0};
  const std::vector<int32_t> labels = {2, 1, 0, 1, -100};  // row 1: tie -> first max (0) != 1
  int32_t correct = -1;
  cpu::count_correct(a, logits.data(), labels.data(), &correct, stream);
  EXPECT_EQ(correct, 3);
}

}  // namespace
}  // namespace kiln
