// The graph: errors, a branchy graph (Add, Concat, fan-out) against a hand computation, memory
// release, and LeNet / a small AlexNet forward and backward on the CPU.
#include <gtest/gtest.h>

#include <cmath>

#include "layers/net.h"
#include "layers/registry.h"
#include "tests/layers/helpers.h"
#include "tests/layers/nets.h"

namespace kiln {
namespace {

using namespace kiln::testing;
using ::testing::HasSubstr;
using I = int64_t;

TEST(Net, GraphErrors) {
  {
    Net net;
    net.add_input("x");
    net.add(make("ReLU", "r"), {"nope"});
    EXPECT_EQ(error_of([&] { net.setup({{"x", {2, 3}}}); }),
              "layer 'r': input 'nope' is neither a net input nor a layer (known: x)");
  }
  {
    Net net;
    net.add_input("x");
    net.add(make("Add", "a"), {"b", "x"});
    net.add(make("Add", "b"), {"a", "x"});
    EXPECT_THAT(error_of([&] { net.setup({{"x", {2, 3}}}); }), HasSubstr("the layer graph has a cycle among: a, b"));
  }
  {
    Net net;
    net.add_input("x");
    net.add(make("Add", "a"));
    EXPECT_EQ(error_of([&] { net.setup({{"x", {2, 3}}}); }), "layer 'a' (Add): expects at least 2 inputs, got 1 (x)");
  }
  {
    Net net;
    net.add_input("x");
    net.add(make("ReLU", "r"));
    EXPECT_THAT(error_of([&] { net.add(make("ReLU", "r")); }), HasSubstr("layer 'r': the name is already used"));
    EXPECT_THAT(error_of([&] { net.setup({{"x", {2, 3}}}); net.backward(); }), HasSubstr("needs a forward()"));
    Tensor x = random_tensor({2, 3}, 1);
    net.forward({{"x", &x}});
    EXPECT_THAT(error_of([&] { net.backward(); }), HasSubstr("the net has no loss layer"));
    Tensor wrong = Tensor::zeros({2, 3}, Device::cpu(), DType::I32);
    EXPECT_THAT(error_of([&] { net.forward({{"x", &wrong}}); }), HasSubstr("input 'x' holds i32, the net declared f32"));
    EXPECT_THAT(error_of([&] { net.forward({}); }), HasSubstr("the net input 'x' was not fed"));
  }
  {
    Net net;
    net.add_input("data");
    net.add(make("Conv2d", "conv1", {{"out_channels", I{4}}, {"kernel", I{3}}}));
    net.add(make("Linear", "fc", {{"out_features", I{2}}}));
    EXPECT_THAT(error_of([&] { net.setup({{"data", {8, 1, 28, 28}}}); }),
                HasSubstr("layer 'fc' (Linear): expects input (N, in_features), got (8, 4, 26, 26) (put a Flatten"));
  }
}

// x (2, 3) -> a = Linear(x), b = Linear(x)  (x fans out)
//          -> s = Add(a, b), c = Concat(s, a)  (a fans out)
//          -> loss = MSE(c, t)
TEST(Net, BranchyGraphMatchesAHandComputation) {
  Net net = layers::build_net({{"x"}, {"t"}},
                              {{"Linear", "a", {"x"}, {{"out_features", I{2}}}},
                               {"Linear", "b", {"x"}, {{"out_features", I{2}}}},
                               {"Add", "s", {"a", "b"}, {}},
                               {"Concat", "c", {"s", "a"}, {}},
                               {"MSELoss", "loss", {"c", "t"}, {}}});
  net.setup({{"x", {2, 3}}, {"t", {2, 4}}});
  net.init_parameters(3);
  Tensor x = random_tensor({2, 3}, 1), t = random_tensor({2, 4}, 2);
  net.forward({{"x", &x}, {"t", &t}});
  net.backward();

  auto host = [&](const std::string& name) { return net.layer(name).parameters()[0].value.to_host(); };
  auto bias = [&](const std::string& name) { return net.layer(name).parameters()[1].value.to_host(); };
  const auto wa = host("a"), wb = host("b"), ba = bias("a"), bb = bias("b"), xs = x.to_host(), ts = t.to_host();
  double a[2][2], b[2][2], c[2][4], loss = 0.0;
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      a[n][o] = ba[o];
      b[n][o] = bb[o];
      for (int i = 0; i < 3; ++i) {
        a[n][o] += static_cast<double>(xs[n * 3 + i]) * wa[o * 3 + i];
        b[n][o] += static_cast<double>(xs[n * 3 + i]) * wb[o * 3 + i];
      }
    }
  for (int n = 0; n < 2; ++n)
    for (int j = 0; j < 4; ++j) {
      c[n][j] = j < 2 ? a[n][j] + b[n][j] : a[n][j - 2];
      loss += (c[n][j] - ts[n * 4 + j]) * (c[n][j] - ts[n * 4 + j]) / 8.0;
    }
  EXPECT_NEAR(net.output("loss").to_host()[0], loss, 1e-5);
  // dc = 2 (c - t) / 8; ds = dc[:, :2]; da = dc[:, 2:] + ds; db = ds.
  double da[2][2], db[2][2];
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      const double ds = 2 * (c[n][o] - ts[n * 4 + o]) / 8.0;
      da[n][o] = 2 * (c[n][o + 2] - ts[n * 4 + o + 2]) / 8.0 + ds;
      db[n][o] = ds;
    }
  const auto dwa = net.layer("a").parameters()[0].grad.to_host(), dwb = net.layer("b").parameters()[0].grad.to_host();
  const auto dba = net.layer("a").parameters()[1].grad.to_host(), dbb = net.layer("b").parameters()[1].grad.to_host();
  for (int o = 0; o < 2; ++o) {
    EXPECT_NEAR(dba[o], da[0][o] + da[1][o], 1e-5);
    EXPECT_NEAR(dbb[o], db[0][o] + db[1][o], 1e-5);
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(dwa[o * 3 + i], da[0][o] * xs[i] + da[1][o] * xs[3 + i], 1e-5);
      EXPECT_NEAR(dwb[o * 3 + i], db[0][o] * xs[i] + db[1][o] * xs[3 + i], 1e-5);
    }
  }
  // Activations are gone after backward; only the net's output (the loss) is kept.
  EXPECT_THAT(error_of([&] { (void)net.output("a"); }), HasSubstr("was released after its last use"));
  EXPECT_EQ(net.output_names(), std::vector<std::string>{"loss"});
  EXPECT_GT(net.peak_activation_bytes(), 0u);

  // A second forward/backward without zero_grad accumulates; zero_grad clears.
  net.forward({{"x", &x}, {"t", &t}});
  net.backward();
  const auto dwa2 = net.layer("a").parameters()[0].grad.to_host();
  for (size_t i = 0; i < dwa.size(); ++i) EXPECT_NEAR(dwa2[i], 2 * dwa[i], 1e-5);
  net.zero_grad();
  for (float v : net.layer("a").parameters()[0].grad.to_host()) EXPECT_EQ(v, 0.0f);
}

TEST(Net, SideOutputsAndFrozenInputsAreHandled) {
  // 'prob' is an extra output no loss depends on: it runs forward, is kept, and never runs backward.
  // 'pre' has no parameters and reads only the data: it needs no gradient and keeps nothing.
  Net net = layers::build_net({{"x"}, {"label", DType::I32}},
                              {{"Tanh", "pre", {"x"}, {}},
                               {"Linear", "fc", {}, {{"out_features", I{3}}}},
                               {"Sigmoid", "prob", {"fc"}, {}},
                               {"SoftmaxCrossEntropy", "loss", {"fc", "label"}, {}}});
  Tensor x = random_tensor({4, 5}, 1), y = labels_tensor({0, 1, 2, 1});
  net.setup({{"x", x.shape()}, {"label", y.shape()}});
  net.init_parameters(1);
  net.forward({{"x", &x}, {"label", &y}});
  net.backward();
  EXPECT_EQ(net.output_names(), (std::vector<std::string>{"prob", "loss"}));
  EXPECT_EQ(net.output("prob").shape(), (Shape{4, 3}));
  EXPECT_EQ(net.live_activation_bytes(), static_cast<size_t>(4 * 3 * 4 + 4));  // prob + loss
  double s = 0.0;
  for (float v : net.layer("fc").parameters()[0].grad.to_host()) s += std::fabs(v);
  EXPECT_GT(s, 0.0);
}

TEST(Net, ResidualBlockGradcheck) {
  // x -> conv1 -> relu -> conv2 -> add(x-path conv0) -> flatten -> fc -> loss: the whole net's
  // parameter gradients against finite differences of the loss.
  Net net = layers::build_net(
      {{"data"}, {"label", DType::I32}},
      {{"Conv2d", "conv0", {"data"}, {{"out_channels", I{3}}, {"kernel", I{3}}, {"pad", I{1}}}},
       {"Conv2d", "conv1", {}, {{"out_channels", I{3}}, {"kernel", I{3}}, {"pad", I{1}}}},
       {"Tanh", "act", {}, {}},
       {"Conv2d", "conv2", {}, {{"out_channels", I{3}}, {"kernel", I{3}}, {"pad", I{1}}}},
       {"Add", "res", {"conv2", "conv0"}, {}},
       {"AvgPool2d", "pool", {}, {{"kernel", I{2}}}},
       {"Flatten", "flat", {}, {}},
       {"Linear", "fc", {}, {{"out_features", I{4}}}},
       {"SoftmaxCrossEntropy", "loss", {"fc", "label"}, {}}});
  Tensor x = random_tensor({2, 2, 4, 4}, 5), labels = labels_tensor({1, 3});
  net.setup({{"data", x.shape()}, {"label", labels.shape()}});
  net.init_parameters(11);
  net.forward({{"data", &x}, {"label", &labels}});
  net.backward();
  auto loss = [&] {
    net.forward({{"data", &x}, {"label", &labels}});
    return static_cast<double>(net.output("loss").to_host()[0]);
  };
  for (auto& ref : net.parameters()) {
    const std::vector<float> g = ref.param->grad.to_host();
    float* w = ref.param->value.data<float>();
    for (int64_t i = 0; i < ref.param->value.numel(); i += 7) {
      const float v = w[i];
      w[i] = v + 1e-2f;
      const double lp = loss();
      w[i] = v - 1e-2f;
      const double lm = loss();
      w[i] = v;
      const double fd = (lp - lm) / 2e-2;
      EXPECT_NEAR(g[static_cast<size_t>(i)], fd, 2e-3 + 2e-2 * std::fabs(fd)) << ref.name << "[" << i << "]";
    }
  }
}

Net lenet(Device device, int batch) {
  Net net = layers::build_net({{"data"}, {"label", DType::I32}}, lenet_specs(), device);
  net.setup({{"data", {batch, 1, 28, 28}}, {"label", {batch}}});
  return net;
}

TEST(Net, LeNetForwardBackwardOnCpu) {
  Net net = lenet(Device::cpu(), 4);
  EXPECT_EQ(net.shape_of("conv1"), (Shape{4, 20, 24, 24}));
  EXPECT_EQ(net.shape_of("pool1"), (Shape{4, 20, 12, 12}));
  EXPECT_EQ(net.shape_of("conv2"), (Shape{4, 50, 8, 8}));
  EXPECT_EQ(net.shape_of("pool2"), (Shape{4, 50, 4, 4}));
  EXPECT_EQ(net.shape_of("flatten"), (Shape{4, 800}));
  EXPECT_EQ(net.shape_of("fc1"), (Shape{4, 500}));
  EXPECT_EQ(net.shape_of("fc2"), (Shape{4, 10}));
  EXPECT_EQ(net.parameter_count(), 20 * 25 + 20 + 50 * 20 * 25 + 50 + 500 * 800 + 500 + 10 * 500 + 10);
  const auto params = net.parameters();
  ASSERT_EQ(params.size(), 8u);
  EXPECT_EQ(params[0].name, "conv1.weight");
  EXPECT_EQ(params[0].param->value.shape(), (Shape{20, 1, 5, 5}));
  EXPECT_EQ(params[4].name, "fc1.weight");
  EXPECT_EQ(params[4].param->value.shape(), (Shape{500, 800}));
  net.init_parameters(42);

  Tensor x = random_tensor({4, 1, 28, 28}, 1), y = labels_tensor({3, 1, 4, 1});
  net.forward({{"data", &x}, {"label", &y}});
  const float loss = net.output("loss").to_host()[0];
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, std::log(10.0f), 0.5f);  // small random weights: near-uniform predictions
  net.backward();
  for (auto& p : net.parameters()) {
    double s = 0.0;
    for (float v : p.param->grad.to_host()) s += std::fabs(v);
    EXPECT_GT(s, 0.0) << p.name;
  }
  const size_t train_peak = net.peak_activation_bytes();
  EXPECT_GE(train_peak, static_cast<size_t>(4 * 20 * 24 * 24 * 4));

  // A few SGD steps by hand lower the loss on this batch.
  for (int step = 0; step < 5; ++step) {
    for (auto& p : net.parameters()) {
      float* w = p.param->value.data<float>();
      const float* g = p.param->grad.data<float>();
      for (int64_t i = 0; i < p.param->value.numel(); ++i) w[i] -= 0.1f * g[i];
    }
    net.zero_grad();
    net.forward({{"data", &x}, {"label", &y}});
    net.backward();
  }
  EXPECT_LT(net.output("loss").to_host()[0], loss);

  // Inference keeps nothing: a lower peak, and a new batch size re-runs shape inference.
  net.set_training(false);
  net.reset_peak();
  Tensor x2 = random_tensor({2, 1, 28, 28}, 2), y2 = labels_tensor({0, 9});
  net.forward({{"data", &x2}, {"label", &y2}});
  EXPECT_EQ(net.shape_of("fc2"), (Shape{2, 10}));
  EXPECT_LT(net.live_activation_bytes(), 64u);  // just the loss
  EXPECT_THAT(error_of([&] { net.backward(); }), HasSubstr("inference mode"));
}

TEST(Net, InferenceReleasesEarlierThanTraining) {
  Net net = lenet(Device::cpu(), 8);
  net.init_parameters(1);
  Tensor x = random_tensor({8, 1, 28, 28}, 1), y = labels_tensor({0, 1, 2, 3, 4, 5, 6, 7});
  net.forward({{"data", &x}, {"label", &y}});
  net.backward();
  const size_t train_peak = net.peak_activation_bytes();
  Net inf = lenet(Device::cpu(), 8);
  inf.init_parameters(1);
  inf.set_training(false);
  inf.forward({{"data", &x}, {"label", &y}});
  // Inference holds at most two adjacent activations (conv1 + pool1 is the largest pair).
  EXPECT_LE(inf.peak_activation_bytes(), static_cast<size_t>(8 * 20 * (24 * 24 + 12 * 12) * 4 + 4096));
  EXPECT_LT(inf.peak_activation_bytes(), train_peak);
  EXPECT_EQ(inf.output("loss").to_host(), net.output("loss").to_host());
  // keep() pins an intermediate.
  inf.keep("fc1");
  inf.forward({{"data", &x}, {"label", &y}});
  EXPECT_EQ(inf.output("fc1").shape(), (Shape{8, 500}));
}

TEST(Net, SmallAlexNetForwardBackwardOnCpu) {
  Net net = layers::build_net({{"data"}, {"label", DType::I32}}, small_alexnet_specs());
  net.setup({{"data", {2, 3, 67, 67}}, {"label", {2}}});
  EXPECT_EQ(net.shape_of("conv1"), (Shape{2, 16, 15, 15}));
  EXPECT_EQ(net.shape_of("pool1"), (Shape{2, 16, 7, 7}));
  EXPECT_EQ(net.shape_of("conv2"), (Shape{2, 32, 7, 7}));
  EXPECT_EQ(net.shape_of("pool2"), (Shape{2, 32, 3, 3}));
  EXPECT_EQ(net.shape_of("conv5"), (Shape{2, 32, 3, 3}));
  EXPECT_EQ(net.shape_of("pool5"), (Shape{2, 32, 1, 1}));
  EXPECT_EQ(net.shape_of("fc8"), (Shape{2, 10}));
  EXPECT_EQ(net.layer("conv2").parameters()[0].value.shape(), (Shape{32, 8, 5, 5}));  // groups = 2
  net.init_parameters(7);
  Tensor x = random_tensor({2, 3, 67, 67}, 3), y = labels_tensor({1, 8});
  net.forward({{"data", &x}, {"label", &y}});
  EXPECT_TRUE(std::isfinite(net.output("loss").to_host()[0]));
  net.backward();
  for (auto& p : net.parameters()) EXPECT_EQ(p.param->grad.shape(), p.param->value.shape()) << p.name;
  // Dropout state advances per training forward and is what a checkpoint stores.
  const auto rng = net.rng_state();
  EXPECT_EQ(rng.at("drop6.offset"), 2u * 64 / 4);
  EXPECT_TRUE(rng.contains("drop7.seed"));
  EXPECT_NE(rng.at("drop6.seed"), rng.at("drop7.seed"));
  std::cout << net.summary();
}

TEST(Net, ResumedDropoutNetRepeatsTheRun) {
  auto run = [](Net& net, int steps) {
    std::vector<float> losses;
    Tensor x = random_tensor({2, 3, 67, 67}, 3), y = labels_tensor({1, 8});
    for (int i = 0; i < steps; ++i) {
      net.forward({{"data", &x}, {"label", &y}});
      losses.push_back(net.output("loss").to_host()[0]);
    }
    return losses;
  };
  Net a = layers::build_net({{"data"}, {"label", DType::I32}}, small_alexnet_specs());
  a.setup({{"data", {2, 3, 67, 67}}, {"label", {2}}});
  a.init_parameters(7);
  const auto all = run(a, 3);
  Net b = layers::build_net({{"data"}, {"label", DType::I32}}, small_alexnet_specs());
  b.setup({{"data", {2, 3, 67, 67}}, {"label", {2}}});
  b.init_parameters(7);
  run(b, 1);
  const auto state = b.rng_state();
  Net c = layers::build_net({{"data"}, {"label", DType::I32}}, small_alexnet_specs());
  c.setup({{"data", {2, 3, 67, 67}}, {"label", {2}}});
  c.init_parameters(7);
  c.set_rng_state(state);
  const auto rest = run(c, 2);
  EXPECT_EQ(rest[0], all[1]);
  EXPECT_EQ(rest[1], all[2]);
}

}  // namespace
}  // namespace kiln
