// BatchNorm1d / BatchNorm2d (layers/batchnorm.h): PyTorch golden fixtures (tests/layers/make_golden.py:
// a training forward, the running statistics after it, every gradient, and an evaluation forward) on
// the CPU and on cuda:0; finite differences in training mode; the buffers in the Net and their
// reset; and the errors (one value per channel in training, a wrong input rank).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layers/batchnorm.h"
#include "layers/net.h"
#include "tests/common/device.h"
#include "tests/common/error_of.h"
#include "tests/common/golden.h"
#include "tests/layers/helpers.h"

#ifndef KILN_LAYERS_GOLDEN_DIR
#error "KILN_LAYERS_GOLDEN_DIR must name tests/layers/golden"
#endif

namespace kiln {
namespace {

using namespace kiln::testing;

void check_golden(Device device, const std::string& file, const std::string& type, double momentum, double eps) {
  const Golden g = load_golden(std::string(KILN_LAYERS_GOLDEN_DIR) + "/" + file, "tests/layers/make_golden.py");
  Net net(device);
  net.add_input("x");
  net.add(make(type, "bn", {{"momentum", momentum}, {"eps", eps}}), {"x"});
  const Tensor x = g.tensor("x", device);
  net.setup({{"x", x.shape()}});
  net.init_parameters(1);
  Layer& bn = net.layer("bn");
  bn.parameters()[0].value.copy_from(g.tensor("weight", device));
  bn.parameters()[1].value.copy_from(g.tensor("bias", device));
  bn.buffers()[0].value.copy_from(g.tensor("running_mean_before", device));
  bn.buffers()[1].value.copy_from(g.tensor("running_var_before", device));

  // Training: y, the running statistics, and the gradients of sum(R * y) (R fed as dL/dy).
  Layer& layer = net.layer("bn");
  Tensor y = layer.forward({&x}, net.stream());
  EXPECT_TRUE(near(y.to_host(), g.v("y"), file + " y"));
  EXPECT_TRUE(near(bn.buffers()[0].value.to_host(), g.v("running_mean"), file + " running_mean"));
  EXPECT_TRUE(near(bn.buffers()[1].value.to_host(), g.v("running_var"), file + " running_var"));
  const Tensor r = g.tensor("r", device);
  Tensor dx = Tensor::empty(x.shape(), device);
  layer.backward(BackwardArgs{.inputs = {&x}, .grad_output = &r, .grad_inputs = {&dx}, .stream = net.stream()});
  EXPECT_TRUE(near(dx.to_host(), g.v("grad.x"), file + " grad.x"));
  EXPECT_TRUE(near(bn.parameters()[0].grad.to_host(), g.v("grad.weight"), file + " grad.weight"));
  EXPECT_TRUE(near(bn.parameters()[1].grad.to_host(), g.v("grad.bias"), file + " grad.bias"));

  // Evaluation: the running statistics, through the net.
  net.set_training(false);
  const Tensor x2 = g.tensor("x2", device);
  net.forward({{"x", &x2}});
  EXPECT_TRUE(near(net.output("bn").to_host(), g.v("y_eval"), file + " y_eval"));
}

void check_goldens(Device device) {
  check_golden(device, "batchnorm2d.txt", "BatchNorm2d", 0.1, 1e-5);
  check_golden(device, "batchnorm1d.txt", "BatchNorm1d", 0.3, 1e-3);
}

TEST(BatchNormGolden, MatchesPyTorchOnCpu) { check_goldens(Device::cpu()); }

TEST(BatchNormGolden, MatchesPyTorchOnCuda) {
  KILN_REQUIRE_DEVICE();
  check_goldens(Device::cuda(0));
}

TEST(BatchNormLayer, GradcheckInTraining) {
  for (const auto& [type, shape] : {std::pair{"BatchNorm2d", Shape{3, 4, 2, 3}}, std::pair{"BatchNorm1d", Shape{5, 3}},
                                    std::pair{"BatchNorm1d", Shape{2, 3, 4}}}) {
    auto l = make(type, "bn");
    std::vector<Tensor> in;
    in.push_back(random_tensor(shape, 21, 0.0f, 2.0f));
    setup_layer(*l, {&in[0]});
    EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 1e-3, 1e-2, 60)) << type << " " << shape.str();
  }
}

TEST(BatchNormLayer, BuffersAreNamedLikePyTorchAndResetByInit) {
  Net net(Device::cpu());
  net.add_input("x");
  net.add(make("BatchNorm2d", "bn1"), {"x"});
  const Tensor x = random_tensor(Shape{4, 2, 3, 3}, 5, 0.0f, 3.0f);
  net.forward({{"x", &x}});
  const auto buffers = net.buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].name, "bn1.running_mean");
  EXPECT_EQ(buffers[1].name, "bn1.running_var");
  EXPECT_NE(buffers[0].value->to_host(), std::vector<float>(2, 0.0f));  // moved by the training forward
  net.init_parameters(3);
  EXPECT_EQ(buffers[0].value->to_host(), std::vector<float>(2, 0.0f));
  EXPECT_EQ(buffers[1].value->to_host(), std::vector<float>(2, 1.0f));
  ASSERT_EQ(net.parameters().size(), 2u);
  EXPECT_EQ(net.parameters()[0].param->value.to_host(), std::vector<float>(2, 1.0f));  // weight = 1
  EXPECT_EQ(net.parameters()[1].param->value.to_host(), std::vector<float>(2, 0.0f));  // bias = 0

  // Evaluation leaves them alone; without running statistics it uses the batch's.
  net.set_training(false);
  const std::vector<float> before = buffers[1].value->to_host();
  net.forward({{"x", &x}});
  EXPECT_EQ(buffers[1].value->to_host(), before);
  Net batch_only(Device::cpu());
  batch_only.add_input("x");
  batch_only.add(make("BatchNorm2d", "bn", {{"track_running_stats", false}, {"affine", false}}), {"x"});
  batch_only.set_training(false);
  batch_only.forward({{"x", &x}});
  EXPECT_TRUE(batch_only.buffers().empty());
  EXPECT_TRUE(batch_only.parameters().empty());
  const std::vector<float> y = batch_only.output("bn").to_host();
  double mean = 0;
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 9; ++i) mean += y[static_cast<size_t>(n * 18 + i)];
  EXPECT_NEAR(mean / 36, 0.0, 1e-5);  // channel 0 normalised with its own batch mean
}

TEST(BatchNormLayer, ErrorsNameTheLayer) {
  Net net(Device::cpu());
  net.add_input("x");
  net.add(make("BatchNorm2d", "bn"), {"x"});
  const Tensor one = random_tensor(Shape{1, 2, 1, 1}, 1);
  EXPECT_NE(error_of([&] { net.forward({{"x", &one}}); }).find("layer 'bn'"), std::string::npos);
  EXPECT_NE(error_of([&] { net.forward({{"x", &one}}); }).find("more than 1 value per channel"), std::string::npos);
  Net wrong(Device::cpu());
  wrong.add_input("x");
  wrong.add(make("BatchNorm1d", "bn"), {"x"});
  EXPECT_NE(error_of([&] { wrong.setup({{"x", Shape{2, 3, 4, 5}}}); }).find("expects input (N, C) or (N, C, L)"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
