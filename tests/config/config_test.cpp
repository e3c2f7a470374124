#include <gtest/gtest.h>

#include <string>

#include "core/config/config.h"
#include "core/error.h"

namespace kiln {
namespace {

const char* kGood = R"(
[model]
name = "tiny"
input = [1, 8, 8]
classes = 3

[[layer]]
type = "Conv2d"
name = "conv1"
out_channels = 4
kernel = [3, 3]

[[layer]]
type = "ReLU"

[[layer]]
type = "Add"
name = "sum"
inputs = ["conv1", "ReLU2"]

[data]
source = "synthetic"
mean = [0.5, 0.25]
size = 100

[solver]
type = "adamw"
lr = 1e-3
weight_decay = 0.01

[schedule]
type = "multistep"
milestones = [2, 4]

[train]
epochs = 5
batch = 16
)";

// The message of the kiln::Error that parsing `text` throws ("" if none).
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "bad.toml");
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

std::string with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  const auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

TEST(Config, ReadsEverySection) {
  const RunConfig c = parse_config(kGood, "good.toml");
  EXPECT_EQ(c.name, "tiny");
  EXPECT_EQ(c.input, (std::vector<int64_t>{1, 8, 8}));
  EXPECT_EQ(c.classes, 3);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_EQ(c.layers[0].type, "Conv2d");
  EXPECT_EQ(std::get<std::vector<int64_t>>(c.layers[0].params.at("kernel")), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(c.layers[1].name, "ReLU2");  // unnamed layers get type + position
  EXPECT_EQ(c.layers[2].inputs, (std::vector<std::string>{"conv1", "ReLU2"}));
  EXPECT_EQ(c.solver.type, "adamw");
  EXPECT_DOUBLE_EQ(c.solver.lr, 1e-3);
  EXPECT_EQ(c.schedule.milestones, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(c.train.epochs, 5);
  EXPECT_EQ(c.train.batch, 16);
  TableReader data(c.data);
  EXPECT_EQ(data.string("source"), "synthetic");
  EXPECT_EQ(data.numbers("mean"), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(data.integer("size", 0), 100);
  EXPECT_THROW(data.integer("source", 0), Error);
}

TEST(Config, ModelHashFollowsTheModelNotTheSolver) {
  const uint64_t h = parse_config(kGood, "a.toml").model_hash;
  EXPECT_EQ(h, parse_config(with("lr = 1e-3", "lr = 0.5"), "a.toml").model_hash);
  EXPECT_NE(h, parse_config(with("out_channels = 4", "out_channels = 5"), "a.toml").model_hash);
}

TEST(Config, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = \"fast\"")), "bad.toml:28: [solver] lr must be a number, got \"fast\"");
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = -1")), "bad.toml:28: [solver] lr must be a number > 0, got -1");
  EXPECT_EQ(error_of(with("batch = 16", "batch = 0")), "bad.toml:37: [train] batch must be an integer >= 1, got 0");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nepoch = 3")),
            "bad.toml:37: [train] unknown key 'epoch' (known: batch, bucket_mb, clip_grad_norm, epochs, eval_batch, log_every, "
            "loss_scale, loss_scale_growth_interval, precision, seed, shuffle)");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nprecision = \"fp8\"")),
            "bad.toml:37: [train] precision must be one of fp32, tf32, bf16, fp16, got \"fp8\"");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nloss_scale = 0.5")),
            "bad.toml:37: [train] loss_scale must be a number >= 1, got 0.5");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nloss_scale = 1e9")),
            "bad.toml:37: [train] loss_scale must be at most 2^24 = 16777216");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nbucket_mb = 0")),
            "bad.toml:37: [train] bucket_mb must be a number > 0, got 0");
  EXPECT_EQ(error_of(with("type = \"adamw\"", "type = \"rmsprop\"")),
            "bad.toml:27: [solver] type must be one of sgd, adam, adamw, got \"rmsprop\"");
  EXPECT_EQ(error_of(with("[train]", "[training]")),
            "bad.toml:35: unknown section 'training' (known: data, layer, model, schedule, solver, train)");
  EXPECT_EQ(error_of(with("milestones = [2, 4]", "")),
            "bad.toml:32: [schedule] type = \"multistep\" needs milestones = [epoch, ...]");
  EXPECT_EQ(error_of("[model]\ninput = [1, 2]\n"), "bad.toml: no [[layer]] tables: the model has no layers");
  EXPECT_EQ(error_of("[solver]\nlr = 1\n"), "bad.toml: missing [model] section (name, input = [C, H, W], classes)");
  EXPECT_TRUE(error_of(with("classes = 3", "classes = = 3")).starts_with("bad.toml:5: not valid TOML: ")) << error_of(with("classes = 3", "classes = = 3"));
}

TEST(Config, MissingFileIsAClearError) {
  try {
    load_config("/nonexistent/x.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "cannot open config file '/nonexistent/x.toml'");
  }
}

TEST(Config, ShippedModelsParse) {
  for (const char* name : {"lenet_fashion.toml"}) {
    const RunConfig c = load_config(std::string(KILN_MODELS_DIR) + "/" + name);
    EXPECT_FALSE(c.layers.empty()) << name;
  }
}

}  // namespace
}  // namespace kiln
