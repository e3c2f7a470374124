// tests/recurrent: the GRU (PyTorch's nn.GRU; its goldens are beside the LSTM's in lstm_test.cpp,
// its stateful test beside the others in recurrent_test.cpp).
//   * the fused cell's forward by hand (b_hn inside the reset product);
//   * the fused cell backward against central finite differences of its forward, on the CPU and
//     on cuda:0 (emulated in the emulate build), with the carry and with dh_prev aliasing it;
//   * finite-difference gradient checks of the layer: multi-layer, batch/time first, with and
//     without h0 and biases, bidirectional, one step;
//   * parameter names and shapes, and the errors (no c0).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/device.h"
#include "kernels/gru.h"
#include "layers/recurrent.h"
#include "tests/common/device.h"
#include "tests/common/gradcheck.h"
#include "tests/layers/helpers.h"

namespace kiln {
namespace {

using namespace kiln::testing;

std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

TEST(GruCell, ForwardMathCpu) {
  // One cell by hand: b_in is added outside and b_hn inside the reset product.
  const GruCellShape s{.n = 1, .h = 1, .x_stride = 0};
  const float xg[3] = {0.3f, -0.2f, 0.7f}, hg[3] = {-0.4f, 0.5f, 0.9f};
  const float b_ih[3] = {0.1f, 0.2f, -0.3f}, b_hh[3] = {0.05f, -0.1f, 0.6f}, hp = 0.4f;
  float gates[3], hn, h;
  cpu::gru_cell_forward(s, xg, hg, b_ih, b_hh, &hp, gates, &hn, &h, cpu_stream());
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  const double r = sig(0.3 + 0.1 - 0.4 + 0.05), z = sig(-0.2 + 0.2 + 0.5 - 0.1);
  const double n = std::tanh(0.7 - 0.3 + r * (0.9 + 0.6));
  EXPECT_NEAR(gates[0], r, 1e-6);
  EXPECT_NEAR(gates[1], z, 1e-6);
  EXPECT_NEAR(gates[2], n, 1e-6);
  EXPECT_NEAR(hn, 1.5, 1e-6);
  EXPECT_NEAR(h, (1 - z) * n + z * 0.4, 1e-6);
}

// ---- the fused cell: backward vs finite differences of forward ----

struct CellData {
  GruCellShape s;
  std::vector<float> xg, hg, b_ih, b_hh, h_prev, rh, rc;  // L = rh . h, with rc as the carry
};

CellData cell_data(bool strided) {
  CellData d;
  d.s = GruCellShape{.n = 3, .h = 5, .x_stride = strided ? 21 : 0};
  const size_t g = static_cast<size_t>(d.s.n * d.s.gate_cols()), c = static_cast<size_t>(d.s.cells());
  d.xg = uniform(static_cast<size_t>((d.s.n - 1) * d.s.xg_stride() + d.s.gate_cols()), 1, -2.0f, 2.0f);
  d.hg = uniform(g, 2, -1.0f, 1.0f);
  d.b_ih = uniform(static_cast<size_t>(d.s.gate_cols()), 3, -0.5f, 0.5f);
  d.b_hh = uniform(static_cast<size_t>(d.s.gate_cols()), 4, -0.5f, 0.5f);
  d.h_prev = uniform(c, 5, -1.0f, 1.0f);
  d.rh = uniform(c, 6, -1.0f, 1.0f);
  d.rc = uniform(c, 7, -1.0f, 1.0f);
  return d;
}

struct CellOutputs {
  std::vector<float> gates, hn, h;
};
struct CellGrads {
  std::vector<float> da_x, da_h, dh_prev;
};

// Runs the launchers of one device on host data (copied there and back).
struct CellOps {
  Device device;
  CellOutputs fwd(const CellData& d) const {
    const Stream st = Stream::default_for(device);
    Tensor xg = put(d.xg), hg = put(d.hg), bi = put(d.b_ih), bh = put(d.b_hh), hp = put(d.h_prev);
    Tensor g = Tensor::empty(Shape{d.s.n * d.s.gate_cols()}, device);
    Tensor hn = Tensor::empty(Shape{d.s.cells()}, device), h = Tensor::empty(Shape{d.s.cells()}, device);
    auto run = device.is_cpu() ? cpu::gru_cell_forward : gpu_forward();
    run(d.s, xg.data<float>(), hg.data<float>(), bi.data<float>(), bh.data<float>(), hp.data<float>(), g.data<float>(),
        hn.data<float>(), h.data<float>(), st);
    return {g.to_host(), hn.to_host(), h.to_host()};
  }
  // dh = rh, carry = rc; `alias`: dh_prev is written over the carry, as the layer calls it.
  CellGrads bwd(const CellData& d, const CellOutputs& o, bool alias) const {
    const Stream st = Stream::default_for(device);
    Tensor g = put(o.gates), hn = put(o.hn), hp = put(d.h_prev), dh = put(d.rh), carry = put(d.rc);
    Tensor dax = Tensor::empty(g.shape(), device), dah = Tensor::empty(g.shape(), device);
    Tensor dhp = alias ? carry.view() : Tensor::empty(hp.shape(), device);
    auto run = device.is_cpu() ? cpu::gru_cell_backward : gpu_backward();
    run(d.s, g.data<float>(), hn.data<float>(), hp.data<float>(), dh.data<float>(), carry.data<float>(),
        dax.data<float>(), dah.data<float>(), dhp.data<float>(), st);
    return {dax.to_host(), dah.to_host(), dhp.to_host()};
  }
  Tensor put(const std::vector<float>& v) const {
    return Tensor::from_host(std::span<const float>(v), Shape{static_cast<int64_t>(v.size())}, device);
  }
  static decltype(&cpu::gru_cell_forward) gpu_forward() {
#if KILN_WITH_DEVICE
    return gpu::gru_cell_forward;
#else
    return nullptr;
#endif
  }
  static decltype(&cpu::gru_cell_backward) gpu_backward() {
#if KILN_WITH_DEVICE
    return gpu::gru_cell_backward;
#else
    return nullptr;
#endif
  }
};

// With dh = rh and the carry rc, the backward differentiates L = (rh + rc) . h.
void check_cell_gradients(const CellOps& ops, bool strided, bool alias) {
  CellData d = cell_data(strided);
  const CellGrads gr = ops.bwd(d, ops.fwd(d), alias);
  std::vector<float> w(d.rh.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = d.rh[i] + d.rc[i];
  auto objective = [&]() { return weighted_sum(w, ops.fwd(d).h); };
  const int64_t cols = d.s.gate_cols();
  std::vector<float> dxg(d.xg.size(), 0.0f), dbi(static_cast<size_t>(cols), 0.0f), dbh(dbi.size(), 0.0f);
  for (int row = 0; row < d.s.n; ++row)
    for (int64_t k = 0; k < cols; ++k) {
      const size_t i = static_cast<size_t>(row * cols + k);
      dxg[static_cast<size_t>(row * d.s.xg_stride() + k)] = gr.da_x[i];
      dbi[static_cast<size_t>(k)] += gr.da_x[i];
      dbh[static_cast<size_t>(k)] += gr.da_h[i];
    }
  const FiniteDifference fd{.eps = 1e-2, .atol = 2e-3, .rtol = 1e-2, .max_checks = 1000};  // every index
  EXPECT_TRUE(check_gradient(d.xg, dxg, objective, fd, "dxg"));
  EXPECT_TRUE(check_gradient(d.hg, gr.da_h, objective, fd, "dhg"));
  EXPECT_TRUE(check_gradient(d.h_prev, gr.dh_prev, objective, fd, "dh_prev"));
  const FiniteDifference fdb{.eps = 1e-2, .atol = 3e-3, .rtol = 1e-2, .max_checks = 1000};
  EXPECT_TRUE(check_gradient(d.b_ih, dbi, objective, fdb, "db_ih"));
  EXPECT_TRUE(check_gradient(d.b_hh, dbh, objective, fdb, "db_hh"));
}

TEST(GruCell, BackwardMatchesFiniteDifferencesCpu) {
  check_cell_gradients({Device::cpu()}, false, false);
  check_cell_gradients({Device::cpu()}, true, true);
}

#if KILN_WITH_DEVICE
TEST(GruCell, BackwardMatchesFiniteDifferencesGpu) {
  KILN_REQUIRE_DEVICE();
  check_cell_gradients({Device::cuda(0)}, false, false);
  check_cell_gradients({Device::cuda(0)}, true, true);
}
#endif

// ---- the layer ----

std::vector<const Tensor*> pointers(const std::vector<Tensor>& v) {
  std::vector<const Tensor*> out;
  for (const Tensor& t : v) out.push_back(&t);
  return out;
}

TEST(GruLayer, GradcheckTwoLayersBatchFirstWithState) {
  auto l = make("GRU", "gru", {{"hidden_size", 3}, {"num_layers", 2}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 4, 3}, 1));
  in.push_back(random_tensor(Shape{2, 2, 3}, 2));
  setup_layer(*l, pointers(in));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(GruLayer, GradcheckTimeFirstNoStateNoBias) {
  auto l = make("GRU", "gru", {{"hidden_size", 4}, {"batch_first", false}, {"bias", false}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{3, 2, 5}, 4));
  setup_layer(*l, pointers(in));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(GruLayer, GradcheckBidirectionalTwoLayersWithState) {
  auto l = make("GRU", "bigru", {{"hidden_size", 3}, {"num_layers", 2}, {"bidirectional", true}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 4, 3}, 5));
  in.push_back(random_tensor(Shape{4, 2, 3}, 6));
  setup_layer(*l, pointers(in));
  EXPECT_EQ(l->output_shape({in[0].shape(), in[1].shape()}, {DType::F32, DType::F32}), (Shape{2, 4, 6}));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(GruLayer, GradcheckOneStep) {
  auto l = make("GRU", "gru", {{"hidden_size", 2}, {"num_layers", 3}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{3, 1, 2}, 7));
  in.push_back(random_tensor(Shape{3, 3, 2}, 8));
  setup_layer(*l, pointers(in));
  EXPECT_TRUE(gradcheck_layer(*l, in));
}

TEST(GruLayer, NamesShapesAndErrors) {
  auto l = make("GRU", "gru", {{"hidden_size", 4}, {"num_layers", 2}});
  EXPECT_STREQ(l->type(), "GRU");
  EXPECT_EQ(l->output_shape({Shape{2, 7, 3}}, {DType::F32}), (Shape{2, 7, 4}));
  l->setup({Shape{2, 7, 3}}, Device::cpu());
  std::vector<std::string> names;
  for (const Parameter& p : l->parameters()) names.push_back(p.name + " " + p.value.shape().str());
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih_l0 (12, 3)", "weight_hh_l0 (12, 4)", "bias_ih_l0 (12,)",
                                             "bias_hh_l0 (12,)", "weight_ih_l1 (12, 4)", "weight_hh_l1 (12, 4)",
                                             "bias_ih_l1 (12,)", "bias_hh_l1 (12,)"}));
  EXPECT_EQ(l->describe(), "3 -> 4, 2 layers, batch first");
  EXPECT_THAT(error_of([&] {
                (void)l->output_shape({Shape{2, 7, 3}, Shape{2, 2, 4}, Shape{2, 2, 4}},
                                      {DType::F32, DType::F32, DType::F32});
              }),
              ::testing::HasSubstr("expects 1 input (x) or 2 (x, h0), got 3"));
  auto s = make("GRU", "s", {{"hidden_size", 2}, {"stateful", true}});
  EXPECT_THAT(error_of([&] { s->set_carried_state("c", Tensor::zeros(Shape{1, 1, 2})); }),
              ::testing::HasSubstr("carries no state 'c'"));
}

}  // namespace
}  // namespace kiln
