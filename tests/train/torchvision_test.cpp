// torchvision compatibility: models/resnet18.toml and models/googlenet.toml (written by
// tools/make_resnet_config.py and tools/make_googlenet_config.py with torchvision's layer names)
// load torchvision's weights, saved as safetensors by tests/train/torchvision_golden.py, as they
// are, and give torchvision's logits in evaluation and in training mode (BatchNorm's running and
// batch statistics), its loss, and the gradients of one training step, on the CPU (and ResNet-18
// on cuda:0).
// Needs Debian's python3-torchvision (skipped without it).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/common/device.h"
#include "tests/common/golden.h"
#include "tests/train/helpers.h"
#include "tools/train/checkpoint.h"

namespace kiln::train_test {
namespace {

using kiln::testing::Golden;
using kiln::testing::load_golden;
using kiln::testing::near;

// Writes torchvision's weights and results for `model` into dir/tv (false and the reason when it
// cannot).
bool make_torchvision_golden(const TempDir& dir, const std::string& model, std::string* why) {
  if (run_command("/usr/bin/python3 -c 'import torchvision'").exit_code != 0) {
    *why = "needs /usr/bin/python3 with torchvision (apt-get install python3-torchvision)";
    return false;
  }
  const CommandResult r = run_command(fmt::format("/usr/bin/python3 {}/tests/train/torchvision_golden.py {} {}",
                                                  KILN_SOURCE_DIR, model, dir.path("tv")));
  if (r.exit_code != 0) *why = "torchvision_golden.py failed: " + r.output;
  return r.exit_code == 0;
}

void check_model(Device device, const std::string& model) {
  TempDir dir;
  std::string why;
  if (!make_torchvision_golden(dir, model, &why)) GTEST_SKIP() << why;
  const Golden g = load_golden(dir.path("tv/golden.txt"), "tests/train/torchvision_golden.py");
  // Dropout draws differ between frameworks: the golden's training pass has it off, and so does
  // this copy of the config (every "p = " line, which only Dropout layers have, set to 0).
  std::string text = read_file(std::string(KILN_SOURCE_DIR) + "/models/" + model + ".toml");
  for (size_t at = 0; (at = text.find("\np = ", at)) != std::string::npos; ++at)
    text.replace(at, text.find('\n', at + 1) - at, "\np = 0.0");
  const RunConfig config = load_config(write_config(dir, model + ".toml", text));
  BuiltNet built = cli::build_model(config, device);
  Net& net = built.net;
  const Tensor x = g.tensor("x", device);
  std::vector<int32_t> ids;
  for (float v : g.v("labels")) ids.push_back(static_cast<int32_t>(v));
  const Tensor labels = Tensor::from_host(std::span<const int32_t>(ids), Shape{x.dim(0)}, device);
  net.setup({{"data", x.shape()}, {"label", labels.shape()}});
  load_weights(dir.path("tv/weights.safetensors"), net);  // every name and shape as torchvision's

  net.set_training(false);
  net.forward({{"data", &x}, {"label", &labels}});
  EXPECT_TRUE(near(net.output(built.logits).to_host(), g.v("logits_eval"), "logits (eval)", 1e-4, 1e-3));

  net.set_training(true);
  net.zero_grad();
  net.forward({{"data", &x}, {"label", &labels}});
  EXPECT_TRUE(near(net.output(built.logits).to_host(), g.v("logits_train"), "logits (train)", 1e-4, 1e-3));
  EXPECT_TRUE(near(net.output(built.loss).to_host(), g.v("loss_train"), "loss (train)", 1e-5, 1e-4));
  net.backward();
  std::map<std::string, const Tensor*> grads;
  for (const Net::ParamRef& p : net.parameters()) grads[p.name] = &p.param->grad;
  int checked = 0;
  for (const auto& [name, value] : g.t) {
    if (!name.starts_with("grad.")) continue;
    const std::string param = name.substr(5);
    ASSERT_TRUE(grads.contains(param)) << param;
    // Relative to the tensor's largest gradient: through many layers of batch statistics the
    // gradients near the input are ill-conditioned (PyTorch's own float32 differs from its float64
    // by up to 1% of that there; tests/train/torchvision_golden.py's header).
    double largest = 0;
    for (float v : value.second) largest = std::max(largest, std::fabs(static_cast<double>(v)));
    EXPECT_TRUE(near(grads.at(param)->to_host(), value.second, name, 0.03 * largest, 0.0));
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(Torchvision, ResNet18WeightsLoadAndGiveTorchvisionsResultsOnCpu) { check_model(Device::cpu(), "resnet18"); }
TEST(Torchvision, GoogLeNetWeightsLoadAndGiveTorchvisionsResultsOnCpu) { check_model(Device::cpu(), "googlenet"); }

TEST(Torchvision, ResNet18WeightsLoadAndGiveTorchvisionsResultsOnCuda) {
  KILN_REQUIRE_DEVICE();
  check_model(Device::cuda(0), "resnet18");
}
// GoogLeNet's layers on the device (Concat, ceil-mode pooling) are covered by the op table's parity
// rows and ResNet-18 above; its CPU golden is enough to keep the test suite's time in bounds.

}  // namespace
}  // namespace kiln::train_test
