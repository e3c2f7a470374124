// The same nets on cuda:0 (a real GPU in the cuda build, the emulator in the emulate build) against
// the CPU: same seed, so the same Philox weights and dropout masks; losses and gradients must agree
// within float tolerance. Skipped (saying why) where no device is present.
#include <gtest/gtest.h>

#include <cmath>

#include "core/device.h"
#include "layers/net.h"
#include "layers/registry.h"
#include "tests/layers/helpers.h"
#include "tests/layers/nets.h"

namespace kiln {
namespace {

using namespace kiln::testing;

#if KILN_WITH_DEVICE

// max |a - b| / (atol + rtol |b|) <= 1, with the worst offender in the message.
::testing::AssertionResult close(const std::vector<float>& a, const std::vector<float>& b, double atol, double rtol,
                                 const std::string& what) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double r = std::fabs(static_cast<double>(a[i]) - b[i]) / (atol + rtol * std::fabs(b[i]));
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  if (worst <= 1.0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": [" << at << "] device " << a[at] << " vs cpu " << b[at]
                                       << " (ratio to tolerance " << worst << ")";
}

void compare_on_device(const std::vector<LayerSpec>& specs, const Shape& data_shape, std::vector<int32_t> labels) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << why;
  const int64_t n = data_shape[0];
  const Tensor x = random_tensor(data_shape, 21);
  const Tensor y = labels_tensor(labels);
  Net cpu = layers::build_net({{"data"}, {"label", DType::I32}}, specs, Device::cpu());
  Net gpu = layers::build_net({{"data"}, {"label", DType::I32}}, specs, Device::cuda(0));
  for (Net* net : {&cpu, &gpu}) {
    net->setup({{"data", data_shape}, {"label", {n}}});
    net->init_parameters(2024);
  }
  // Identical initial weights (Philox, bit for bit).
  auto pc = cpu.parameters();
  auto pg = gpu.parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) EXPECT_EQ(pg[i].param->value.to_host(), pc[i].param->value.to_host()) << pc[i].name;

  const Tensor xg = x.to(Device::cuda(0)), yg = y.to(Device::cuda(0));
  for (int step = 0; step < 2; ++step) {
    cpu.forward({{"data", &x}, {"label", &y}});
    gpu.forward({{"data", &xg}, {"label", &yg}});
    cpu.backward();
    gpu.backward();
    gpu.stream().synchronize();
    EXPECT_TRUE(close(gpu.output("loss").to_host(), cpu.output("loss").to_host(), 1e-4, 1e-4, "loss"));
    for (size_t i = 0; i < pc.size(); ++i)
      EXPECT_TRUE(close(pg[i].param->grad.to_host(), pc[i].param->grad.to_host(), 2e-4, 2e-3, pc[i].name + " grad"));
  }
  EXPECT_EQ(gpu.rng_state(), cpu.rng_state());
}

TEST(Device, LeNetMatchesTheCpu) {
  compare_on_device(lenet_specs(), {2, 1, 28, 28}, {3, 7});
}

TEST(Device, SmallAlexNetMatchesTheCpu) {
  compare_on_device(small_alexnet_specs(), {2, 3, 67, 67}, {1, 8});
}

TEST(Device, BranchyNetMatchesTheCpu) {
  using I = int64_t;
  compare_on_device({{"Conv2d", "a", {"data"}, {{"out_channels", I{4}}, {"kernel", I{3}}, {"pad", I{1}}}},
                     {"ELU", "a_act", {}, {}},
                     {"Conv2d", "b", {"data"}, {{"out_channels", I{2}}, {"kernel", I{1}}}},
                     {"Sigmoid", "b_act", {}, {}},
                     {"Concat", "cat", {"a_act", "b_act"}, {}},
                     {"Conv2d", "c", {}, {{"out_channels", I{6}}, {"kernel", I{3}}, {"pad", I{1}}}},
                     {"Add", "res", {"c", "cat"}, {}},
                     {"LeakyReLU", "res_act", {}, {}},
                     {"AvgPool2d", "pool", {}, {{"kernel", I{2}}}},
                     {"Flatten", "flat", {}, {}},
                     {"Linear", "fc", {}, {{"out_features", I{5}}}},
                     {"Tanh", "out", {}, {}},
                     {"SoftmaxCrossEntropy", "loss", {"out", "label"}, {}}},
                    {2, 3, 6, 6}, {0, 4});
}

TEST(Device, InputOnTheWrongDeviceIsAnError) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << why;
  Net net = layers::build_net({{"data"}, {"label", DType::I32}}, lenet_specs(), Device::cuda(0));
  Tensor x = random_tensor({2, 1, 28, 28}, 1), y = labels_tensor({0, 1});
  EXPECT_THAT(error_of([&] { net.forward({{"data", &x}, {"label", &y}}); }),
              ::testing::HasSubstr("input 'data' is on cpu but the net is on cuda:0 (copy it with Tensor::to)"));
}

#else

TEST(Device, NotBuilt) { GTEST_SKIP() << "built without GPU support (KILN_GPU=off)"; }

#endif

}  // namespace
}  // namespace kiln
