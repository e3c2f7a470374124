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

// The message of the kiln::Error that `f` throws ("" if none).
template <class F>
std::string testing_error_of(F f) {
  try {
    f();
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
  EXPECT_EQ(data.integer("size", 0, 0, 1000), 100);
  EXPECT_THROW(data.integer("source", 0, 0, 1000), Error);
}

TEST(Config, ModelHashFollowsTheModelNotTheSolver) {
  const uint64_t h = parse_config(kGood, "a.toml").model_hash;
  EXPECT_EQ(h, parse_config(with("lr = 1e-3", "lr = 0.5"), "a.toml").model_hash);
  EXPECT_NE(h, parse_config(with("out_channels = 4", "out_channels = 5"), "a.toml").model_hash);
}

TEST(Config, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = \"fast\"")), "bad.toml:28: [solver] lr must be a number, got \"fast\"");
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = -1")), "bad.toml:28: [solver] lr must be a number > 0, got -1");
  EXPECT_EQ(error_of(with("batch = 16", "batch = 0")), "bad.toml:37: [train] batch must be an integer from 1 to 2147483647, got 0");
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

// Issue 18, class 4: values that passed the checks but should not. NaN and infinities in any float
// key, integers that would wrap when narrowed: refused at parse time with file:line and the key.
TEST(Config, NonFiniteNumbersAreRefusedWithFileLineAndKey) {
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = nan")), "bad.toml:28: [solver] lr must be a finite number, got nan");
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = inf")), "bad.toml:28: [solver] lr must be a finite number, got inf");
  EXPECT_EQ(error_of(with("lr = 1e-3", "lr = 1e-3\nmomentum = -inf")),
            "bad.toml:29: [solver] momentum must be a finite number, got -inf");
  EXPECT_EQ(error_of(with("milestones = [2, 4]", "milestones = [2, 4]\ngamma = nan")),
            "bad.toml:34: [schedule] gamma must be a finite number, got nan");
  EXPECT_EQ(error_of(with("milestones = [2, 4]", "milestones = [2, 4]\nmin_lr = nan")),
            "bad.toml:34: [schedule] min_lr must be a finite number, got nan");
  EXPECT_EQ(error_of(with("batch = 16", "batch = 16\nclip_grad_norm = nan")),
            "bad.toml:38: [train] clip_grad_norm must be a finite number, got nan");
  EXPECT_EQ(error_of(with("batch = 16", "batch = 16\nbucket_mb = inf")),
            "bad.toml:38: [train] bucket_mb must be a finite number, got inf");
  EXPECT_EQ(error_of(with("batch = 16", "batch = 16\nbucket_mb = 1e300")),
            "bad.toml:38: [train] bucket_mb must be a number <= 1048576, got 1e+300");
  // A layer's float keys: the layer table is named by its position.
  EXPECT_EQ(error_of(with("kernel = [3, 3]", "kernel = [3, 3]\nweight_init_value = nan")),
            "bad.toml:12: [[layer]] #1: weight_init_value must be a finite number, got nan");
}

TEST(Config, IntegersThatWouldWrapAreRefused) {
  // 4294967306 = 2^32 + 10 trained as 10 classes when narrowed to an int.
  EXPECT_EQ(error_of(with("classes = 3", "classes = 4294967306")),
            "bad.toml:5: [model] classes must be an integer from 0 to 2147483647, got 4294967306");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 9223372036854775807")),
            "bad.toml:36: [train] epochs must be an integer from 1 to 2147483647, got 9223372036854775807");
  EXPECT_EQ(error_of(with("milestones = [2, 4]", "milestones = [2, 4294967296]")),
            "bad.toml:33: [schedule] milestones must be a list of integers from 0 to 2147483647, got a list");
  EXPECT_EQ(error_of(with("input = [1, 8, 8]", "input = [65536, 65536, 8]")),
            "bad.toml:4: [model] input = [65536, 65536, 8] has 34359738368 values per sample, more than 2147483647");
  EXPECT_EQ(error_of(with("epochs = 5", "epochs = 5\nloss_scale_growth_interval = 4294967296")),
            "bad.toml:37: [train] loss_scale_growth_interval must be an integer from 1 to 2147483647, got 4294967296");
  EXPECT_EQ(parse_config(with("batch = 16", "batch = 16\nseed = 9223372036854775807"), "a.toml").train.seed,
            9223372036854775807ull);
}

// The [data] keys are read by the data sources through TableReader: the same checks, same form.
TEST(Config, DataKeysAreRangeChecked) {
  const RunConfig c = parse_config(with("size = 100", "size = 100\nnan_key = nan\nlist = [1.0, inf]\nbig = 4294967306"),
                                   "bad.toml");
  TableReader data(c.data);
  EXPECT_EQ(testing_error_of([&] { data.number("nan_key", 0); }),
            "bad.toml:25: [data] nan_key must be a finite number, got nan");
  EXPECT_EQ(testing_error_of([&] { data.numbers("list"); }),
            "bad.toml:26: [data] list must be a list of finite numbers, got inf");
  EXPECT_EQ(testing_error_of([&] { data.integer("big", 0, 0, 2147483647); }),
            "bad.toml:27: [data] big must be an integer from 0 to 2147483647, got 4294967306");
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
  // Every shipped model stays within the parse-time ranges (issue 18).
  for (const char* name : {"lenet_fashion.toml", "alexnet.toml", "alexnet_owt.toml", "char_lstm.toml",
                           "char_lstm_tbptt.toml", "rnnlm_dynet.toml", "word_lstm.toml"}) {
    const RunConfig c = load_config(std::string(KILN_MODELS_DIR) + "/" + name);
    EXPECT_FALSE(c.layers.empty()) << name;
  }
}

}  // namespace
}  // namespace kiln
