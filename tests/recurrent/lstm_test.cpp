// tests/recurrent: the recurrent-network ops and layers.
//   * the GPU kernels' fused LSTM cell backward against central finite differences of their forward
//     (device builds; the CPU twin's gradient is checked from the op table, tests/gradcheck/);
//   * finite-difference gradient checks of the LSTM (multi-layer, batch/time first, with and without
//     initial states and biases), Embedding and TimeFlatten layers;
//   * the embedding backward is deterministic (bit-identical reruns; CPU == GPU bit for bit);
//   * golden: PyTorch nn.LSTM, nn.RNN and nn.GRU (tests/recurrent/make_golden.py -> golden/*.txt):
//     outputs, final states and every gradient, matched on the CPU and on cuda:0 (emulated in the
//     emulate build);
//   * an Embedding -> LSTM -> TimeFlatten -> Linear -> SoftmaxCrossEntropy net learns a sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/device.h"
#include "tests/common/device.h"
#include "layers/net.h"
#include "kernels/embedding.h"
#include "kernels/lstm.h"
#include "layers/recurrent.h"
#include "layers/registry.h"
#include "tests/common/golden.h"
#include "tests/common/gradcheck.h"
#include "tests/layers/helpers.h"

#ifndef KILN_RECURRENT_GOLDEN_DIR
#error "KILN_RECURRENT_GOLDEN_DIR must name tests/recurrent/golden"
#endif

namespace kiln {
namespace {

using namespace kiln::testing;

#if KILN_WITH_DEVICE
std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// ---- the fused cell on the device: backward vs finite differences of forward ----

struct CellData {
  LstmCellShape s;
  std::vector<float> xg, hg, b_ih, b_hh, c_prev, rh, rc;  // rh, rc: the objective's weights
};

CellData cell_data(bool strided) {
  CellData d;
  d.s = LstmCellShape{.n = 3, .h = 5, .x_stride = strided ? 27 : 0, .forget_bias = 0.5f};
  const size_t g = static_cast<size_t>(d.s.n * d.s.gate_cols()), c = static_cast<size_t>(d.s.cells());
  d.xg = uniform(static_cast<size_t>((d.s.n - 1) * d.s.xg_stride() + d.s.gate_cols()), 1, -2.0f, 2.0f);
  d.hg = uniform(g, 2, -1.0f, 1.0f);
  d.b_ih = uniform(static_cast<size_t>(d.s.gate_cols()), 3, -0.5f, 0.5f);
  d.b_hh = uniform(static_cast<size_t>(d.s.gate_cols()), 4, -0.5f, 0.5f);
  d.c_prev = uniform(c, 5, -1.5f, 1.5f);
  d.rh = uniform(c, 6, -1.0f, 1.0f);
  d.rc = uniform(c, 7, -1.0f, 1.0f);
  return d;
}

// Runs forward (and backward with dh = rh, dc = rc) with the launchers of one device, on host data.
struct CellOps {
  std::function<void(const CellData&, std::vector<float>& gates, std::vector<float>& c, std::vector<float>& h)> fwd;
  std::function<void(const CellData&, const std::vector<float>& gates, const std::vector<float>& c,
                     std::vector<float>& da, std::vector<float>& dc_prev)>
      bwd;
};

Tensor dev(const std::vector<float>& v) {
  return Tensor::from_host(std::span<const float>(v), Shape{static_cast<int64_t>(v.size())}, Device::cuda(0));
}
CellOps gpu_cell_ops() {
  CellOps ops;
  ops.fwd = [](const CellData& d, std::vector<float>& gates, std::vector<float>& c, std::vector<float>& h) {
    const Stream st = Stream::default_for(Device::cuda(0));
    Tensor xg = dev(d.xg), hg = dev(d.hg), bi = dev(d.b_ih), bh = dev(d.b_hh), cp = dev(d.c_prev);
    Tensor tg = Tensor::empty(Shape{d.s.n * d.s.gate_cols()}, Device::cuda(0));
    Tensor tc = Tensor::empty(Shape{d.s.cells()}, Device::cuda(0)), th = Tensor::empty(Shape{d.s.cells()}, Device::cuda(0));
    gpu::lstm_cell_forward(d.s, xg.data<float>(), hg.data<float>(), bi.data<float>(), bh.data<float>(),
                           cp.data<float>(), tg.data<float>(), tc.data<float>(), th.data<float>(), st);
    gates = tg.to_host();
    c = tc.to_host();
    h = th.to_host();
  };
  ops.bwd = [](const CellData& d, const std::vector<float>& gates, const std::vector<float>& c, std::vector<float>& da,
               std::vector<float>& dc_prev) {
    const Stream st = Stream::default_for(Device::cuda(0));
    Tensor tg = dev(gates), tc = dev(c), cp = dev(d.c_prev), rh = dev(d.rh), rc = dev(d.rc);
    Tensor tda = Tensor::empty(tg.shape(), Device::cuda(0)), tdc = Tensor::empty(tc.shape(), Device::cuda(0));
    gpu::lstm_cell_backward(d.s, tg.data<float>(), cp.data<float>(), tc.data<float>(), rh.data<float>(),
                            rc.data<float>(), tda.data<float>(), tdc.data<float>(), st);
    da = tda.to_host();
    dc_prev = tdc.to_host();
  };
  return ops;
}

// The fused cell's backward against finite differences of its forward (tests/common/gradcheck.h),
// with L = rh . h + rc . c: da is the gradient of xg (rows x_stride apart), of hg and, summed over
// rows, of both biases. (The CPU twin's is checked from the op table: tests/gradcheck/.)
void check_cell_gradients(const CellOps& ops, bool strided) {
  CellData d = cell_data(strided);
  std::vector<float> gates, c, h, da, dc_prev;
  ops.fwd(d, gates, c, h);
  ops.bwd(d, gates, c, da, dc_prev);
  auto objective = [&]() {
    std::vector<float> g2, c2, h2;
    ops.fwd(d, g2, c2, h2);
    return weighted_sum(d.rh, h2) + weighted_sum(d.rc, c2);
  };
  const int64_t cols = d.s.gate_cols();
  std::vector<float> dxg(d.xg.size(), 0.0f), db(static_cast<size_t>(cols), 0.0f);
  for (int row = 0; row < d.s.n; ++row)
    for (int64_t k = 0; k < cols; ++k) {
      const float v = da[static_cast<size_t>(row * cols + k)];
      dxg[static_cast<size_t>(row * d.s.xg_stride() + k)] = v;
      db[static_cast<size_t>(k)] += v;
    }
  const FiniteDifference fd{.eps = 1e-2, .atol = 2e-3, .rtol = 1e-2, .max_checks = 1000};  // every index
  EXPECT_TRUE(check_gradient(d.xg, dxg, objective, fd, "dxg"));
  EXPECT_TRUE(check_gradient(d.hg, da, objective, fd, "dhg"));
  EXPECT_TRUE(check_gradient(d.c_prev, dc_prev, objective, fd, "dc_prev"));
  EXPECT_TRUE(check_gradient(d.b_ih, db, objective, {.eps = 1e-2, .atol = 3e-3, .rtol = 1e-2, .max_checks = 1000},
                             "db_ih"));
}

TEST(LstmCell, BackwardMatchesFiniteDifferencesGpu) {
  KILN_REQUIRE_DEVICE();
  check_cell_gradients(gpu_cell_ops(), false);
  check_cell_gradients(gpu_cell_ops(), true);
}
#endif

TEST(LstmCell, ForwardMathCpu) {
  // One cell by hand: c = f c_prev + i g, h = o tanh(c), forget bias on f only.
  const LstmCellShape s{.n = 1, .h = 1, .x_stride = 0, .forget_bias = 1.0f};
  const float xg[4] = {0.3f, -0.2f, 0.7f, 1.1f}, cp = 0.4f;
  float gates[4], c, h;
  cpu::lstm_cell_forward(s, xg, nullptr, nullptr, nullptr, &cp, gates, &c, &h, cpu_stream());
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  const double i = sig(0.3), f = sig(0.8), g = std::tanh(0.7), o = sig(1.1);
  EXPECT_NEAR(gates[0], i, 1e-6);
  EXPECT_NEAR(gates[1], f, 1e-6);
  EXPECT_NEAR(gates[2], g, 1e-6);
  EXPECT_NEAR(gates[3], o, 1e-6);
  EXPECT_NEAR(c, f * 0.4 + i * g, 1e-6);
  EXPECT_NEAR(h, o * std::tanh(f * 0.4 + i * g), 1e-6);
}

// ---- layer gradient checks ----

TEST(LstmLayer, GradcheckTwoLayersBatchFirstWithStates) {
  auto l = make("LSTM", "lstm", {{"hidden_size", 3}, {"num_layers", 2}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 4, 3}, 1));
  in.push_back(random_tensor(Shape{2, 2, 3}, 2));
  in.push_back(random_tensor(Shape{2, 2, 3}, 3));
  setup_layer(*l, {&in[0], &in[1], &in[2]});
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(LstmLayer, GradcheckTimeFirstNoStatesNoBias) {
  auto l = make("LSTM", "lstm", {{"hidden_size", 4}, {"batch_first", false}, {"bias", false}, {"forget_bias", 1.0}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{3, 2, 5}, 4));
  setup_layer(*l, {&in[0]});
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(LstmLayer, GradcheckOneStep) {
  auto l = make("LSTM", "lstm", {{"hidden_size", 2}, {"num_layers", 3}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{3, 1, 2}, 5));
  in.push_back(random_tensor(Shape{3, 3, 2}, 6));
  in.push_back(random_tensor(Shape{3, 3, 2}, 7));
  setup_layer(*l, {&in[0], &in[1], &in[2]});
  EXPECT_TRUE(gradcheck_layer(*l, in));
}

TEST(LstmLayer, NamesShapesAndErrors) {
  auto l = make("LSTM", "rnn", {{"hidden_size", 4}, {"num_layers", 2}});
  const Shape out = l->output_shape({Shape{2, 7, 3}}, {DType::F32});
  EXPECT_EQ(out, (Shape{2, 7, 4}));
  l->setup({Shape{2, 7, 3}}, Device::cpu());
  std::vector<std::string> names;
  for (const Parameter& p : l->parameters()) names.push_back(p.name + " " + p.value.shape().str());
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih_l0 (16, 3)", "weight_hh_l0 (16, 4)", "bias_ih_l0 (16,)",
                                             "bias_hh_l0 (16,)", "weight_ih_l1 (16, 4)", "weight_hh_l1 (16, 4)",
                                             "bias_ih_l1 (16,)", "bias_hh_l1 (16,)"}));
  EXPECT_THAT(error_of([&] { (void)l->output_shape({Shape{2, 7}}, {DType::F32}); }),
              ::testing::HasSubstr("expects input (N, T, F)"));
  EXPECT_THAT(error_of([&] {
                (void)l->output_shape({Shape{2, 7, 3}, Shape{1, 2, 4}, Shape{1, 2, 4}},
                                      {DType::F32, DType::F32, DType::F32});
              }),
              ::testing::HasSubstr("expects h0 (num_layers * directions, N, H) = (2, 2, 4), got (1, 2, 4)"));
}

TEST(EmbeddingLayer, GradcheckAndLookup) {
  auto l = make("Embedding", "emb", {{"num_embeddings", 5}, {"embedding_dim", 3}});
  std::vector<Tensor> in;
  const std::vector<int32_t> ids = {4, 0, 4, 2, 4, 1};
  in.push_back(Tensor::from_host(std::span<const int32_t>(ids), Shape{2, 3}));
  setup_layer(*l, {&in[0]});
  Tensor y = l->forward({&in[0]}, cpu_stream());
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3}));
  const float* w = l->parameters()[0].value.data<float>();
  for (int i = 0; i < 6; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(y.data<float>()[i * 3 + k], w[ids[static_cast<size_t>(i)] * 3 + k]);
  EXPECT_TRUE(gradcheck_layer(*l, in));
  const std::vector<int32_t> bad = {5};
  Tensor b = Tensor::from_host(std::span<const int32_t>(bad), Shape{1});
  EXPECT_THAT(error_of([&] { (void)l->forward({&b}, cpu_stream()); }),
              ::testing::HasSubstr("token id 5 at position 0 is outside [0, 5)"));
}

TEST(TimeFlattenLayer, Gradcheck) {
  auto l = make("TimeFlatten", "tf");
  EXPECT_EQ(l->output_shape({Shape{2, 3, 4}}, {DType::F32}), (Shape{6, 4}));
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 3, 4}, 8));
  setup_layer(*l, {&in[0]});
  EXPECT_TRUE(gradcheck_layer(*l, in));
}

#if KILN_WITH_DEVICE
TEST(Embedding, BackwardIsDeterministicAndEqualsCpuBitForBit) {
  KILN_REQUIRE_DEVICE();
  const EmbeddingShape s{.n = 700, .v = 7, .d = 150};
  std::vector<int32_t> ids(static_cast<size_t>(s.n));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % 7);
  const std::vector<float> dy = uniform(static_cast<size_t>(s.out_size()), 9, -1.0f, 1.0f);
  const std::vector<float> w0 = uniform(static_cast<size_t>(s.table_size()), 10, -1.0f, 1.0f);
  std::vector<float> ref = w0;
  cpu::embedding_backward(s, ids.data(), dy.data(), ref.data(), cpu_stream());
  const Stream st = Stream::default_for(Device::cuda(0));
  const Tensor tid = Tensor::from_host(std::span<const int32_t>(ids), Shape{s.n}, Device::cuda(0));
  const Tensor tdy = dev(dy);
  for (int run = 0; run < 2; ++run) {
    Tensor tw = dev(w0);
    gpu::embedding_backward(s, tid.data<int32_t>(), tdy.data<float>(), tw.data<float>(), st);
    EXPECT_EQ(tw.to_host(), ref) << "run " << run;
  }
}
#endif

// ---- golden: PyTorch nn.LSTM, nn.RNN, nn.GRU ----

void check_golden(Device device, const std::string& file, layers::RecurrentOptions options) {
  const Golden g = load_golden(std::string(KILN_RECURRENT_GOLDEN_DIR) + "/" + file, "tests/recurrent/make_golden.py");
  const bool lstm = options.mode == layers::RecurrentMode::Lstm;
  const Stream stream = Stream::default_for(device);
  options.hidden_size = 4;
  options.num_layers = 2;
  layers::Recurrent net("rnn", options);
  std::vector<std::string> names = {"x", "h0"};
  if (lstm) names.push_back("c0");
  std::vector<Tensor> in;
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const std::string& name : names) {
    in.push_back(g.tensor(name, device));
    shapes.push_back(in.back().shape());
    dtypes.push_back(DType::F32);
  }
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : in) inputs.push_back(&t);
  (void)net.output_shape(shapes, dtypes);
  net.setup(shapes, device);
  for (Parameter& p : net.parameters()) {
    p.value.copy_from(g.tensor(p.name, Device::cpu()));
    p.grad.fill_zero();
  }
  Tensor y = net.forward(inputs, stream);
  EXPECT_TRUE(near(y.to_host(), g.v("output"), file + " output"));
  EXPECT_TRUE(near(net.final_h().to_host(), g.v("h_n"), file + " h_n"));
  if (lstm) {
    EXPECT_TRUE(near(net.final_c().to_host(), g.v("c_n"), file + " c_n"));
  }

  Tensor r = g.tensor("r", device);
  std::vector<Tensor> grads;
  for (const Tensor& t : in) grads.push_back(Tensor::empty(t.shape(), device));
  BackwardArgs a{.inputs = inputs, .grad_output = &r, .stream = stream};
  for (Tensor& t : grads) a.grad_inputs.push_back(&t);
  net.backward(a);
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_TRUE(near(grads[i].to_host(), g.v("grad." + names[i]), file + " grad." + names[i]));
  for (const Parameter& p : net.parameters())
    EXPECT_TRUE(near(p.grad.to_host(), g.v("grad." + p.name), file + " grad." + p.name));
}

void check_goldens(Device device) {
  using layers::RecurrentMode;
  check_golden(device, "lstm2.txt", {});
  check_golden(device, "bilstm2.txt", {.batch_first = false, .bidirectional = true});
  check_golden(device, "rnn_tanh2.txt", {.mode = RecurrentMode::RnnTanh});
  check_golden(device, "birnn_relu2.txt", {.mode = RecurrentMode::RnnRelu, .bidirectional = true});
  check_golden(device, "gru2.txt", {.mode = RecurrentMode::Gru});
  check_golden(device, "bigru2.txt", {.mode = RecurrentMode::Gru, .batch_first = false, .bidirectional = true});
}

TEST(RecurrentGolden, MatchesPyTorchOnCpu) { check_goldens(Device::cpu()); }

#if KILN_WITH_DEVICE
TEST(RecurrentGolden, MatchesPyTorchOnDevice) {
  KILN_REQUIRE_DEVICE();
  check_goldens(Device::cuda(0));
}
#endif

// ---- a tiny language model learns a fixed sequence ----

TEST(LstmNet, EmbeddingLstmLinearLearnsASequence) {
  const int N = 2, T = 6, V = 5;
  std::vector<LayerSpec> specs = {
      {.type = "Embedding", .name = "emb", .inputs = {"data"}, .params = {{"num_embeddings", V}, {"embedding_dim", 8}}},
      {.type = "LSTM", .name = "lstm", .inputs = {"emb"}, .params = {{"hidden_size", 16}}},
      {.type = "TimeFlatten", .name = "flat", .inputs = {"lstm"}, .params = {}},
      {.type = "Linear", .name = "fc", .inputs = {"flat"}, .params = {{"out_features", V}}},
      {.type = "SoftmaxCrossEntropy", .name = "loss", .inputs = {"fc", "label"}, .params = {}},
  };
  Net net = layers::build_net({{"data", DType::I32}, {"label", DType::I32}}, specs, Device::cpu());
  net.setup({{"data", Shape{N, T}}, {"label", Shape{N * T}}});
  net.init_parameters(11);
  std::vector<int32_t> seq = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3};
  std::vector<int32_t> in, next;
  for (int n = 0; n < N; ++n)
    for (int t = 0; t < T; ++t) {
      in.push_back(seq[static_cast<size_t>(n * 3 + t)]);
      next.push_back(seq[static_cast<size_t>(n * 3 + t + 1)]);
    }
  const Tensor x = Tensor::from_host(std::span<const int32_t>(in), Shape{N, T});
  const Tensor y = Tensor::from_host(std::span<const int32_t>(next), Shape{N * T});
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    net.zero_grad();
    net.forward({{"data", &x}, {"label", &y}});
    const float loss = net.output("loss").to_host()[0];
    net.backward();
    for (auto& p : net.parameters()) {
      float* w = p.param->value.data<float>();
      const float* gr = p.param->grad.data<float>();
      for (int64_t i = 0; i < p.param->value.numel(); ++i) w[i] -= 0.5f * gr[i];
    }
    if (step == 0) first = loss;
    last = loss;
  }
  EXPECT_GT(first, 1.2f);
  EXPECT_LT(last, 0.2f * first) << "first " << first << ", last " << last;
}

}  // namespace
}  // namespace kiln
