// cpu_fallback optimiser updates (SGD with momentum, Nesterov and weight decay; Adam and AdamW)
// against the definitional steps in double and hand-computed PyTorch formulas.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "core/stream.h"
#include "kernels/optim.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

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
      cpu::sgd_update(s, param.data(), grad.data(), s.momentum != 0.0f ? buf.data() : nullptr, nullptr, stream);
      for (size_t i = 0; i < param.size(); ++i) ref::sgd_step<double>(s, pr[i], grad[i], br[i]);
    }
    ASSERT_TRUE(all_close(param, pr, {1e-6, 1e-6}, "param after 5 steps"));
  }
  // A hand-computed case (PyTorch: SGD(lr=0.1, momentum=0.9, nesterov=True), p=1, g=0.5 twice):
  //  t1: buf = 0.5, g = 0.5 + 0.9*0.5 = 0.95, p = 0.905
  //  t2: buf = 0.9*0.5 + 0.5 = 0.95, g = 0.5 + 0.855 = 1.355, p = 0.7695
  SgdShape s{.count = 1, .lr = 0.1f, .momentum = 0.9f, .nesterov = true};
  float p = 1.0f, buf = 0.0f, g = 0.5f;
  cpu::sgd_update(s, &p, &g, &buf, nullptr, stream);
  EXPECT_NEAR(p, 0.905f, 1e-6);
  s.step = 2;
  cpu::sgd_update(s, &p, &g, &buf, nullptr, stream);
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
      cpu::adam_update(s, param.data(), grad.data(), m.data(), v.data(), nullptr, stream);
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
  cpu::adam_update(s, &p, &g, &m, &v, nullptr, stream);
  EXPECT_NEAR(p, 1.01f, 1e-6);
  // AdamW decays the parameter before the step: p = 1 * (1 - 0.01 * 0.5) + 0.01.
  AdamShape w{.count = 1, .lr = 0.01f, .weight_decay = 0.5f, .decoupled = true};
  p = 1.0f, m = 0, v = 0;
  cpu::adam_update(w, &p, &g, &m, &v, nullptr, stream);
  EXPECT_NEAR(p, 0.995f + 0.01f, 1e-6);
}

// A grad_scale that is not finite skips the step (FP16 loss scaling's overflowed step): nothing moves.
TEST(OptimReference, NonFiniteGradScaleSkipsTheStep) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    float p = 1.0f, g = -3.0f, m = 0.25f, v = 0.5f, buf = 0.75f;
    cpu::adam_update(AdamShape{.count = 1, .lr = 0.01f}, &p, &g, &m, &v, &bad, stream);
    EXPECT_EQ(p, 1.0f);
    EXPECT_EQ(m, 0.25f);
    EXPECT_EQ(v, 0.5f);
    SgdShape s{.count = 1, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f, .step = 2};
    cpu::sgd_update(s, &p, &g, &buf, &bad, stream);
    EXPECT_EQ(p, 1.0f);
    EXPECT_EQ(buf, 0.75f);
    s.grad_scale = bad;  // the shape's own scale follows the same rule
    cpu::sgd_update(s, &p, &g, &buf, nullptr, stream);
    EXPECT_EQ(p, 1.0f);
  }
}

}  // namespace
}  // namespace kiln
