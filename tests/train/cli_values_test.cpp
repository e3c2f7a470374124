// Issue 18, classes 4 and 5, through the `kiln` binary: values that used to pass the checks (NaN,
// infinities, integers that wrap when narrowed, step counts that overflow) are refused when the
// config or the command line is read, naming file:line and key; errors about checkpoints, resume
// metadata, layers, --out and worker threads name the file and tensor, the field or the layer, with
// no raw library text first. Each case is a hand-made reproducer of what a hostile user tried.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/common/run_command.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

const std::string kKiln = KILN_BINARY;

CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

std::string train_args(const std::string& config, const std::string& out, const std::string& more = "") {
  return fmt::format("train {} --device cpu --out {} --no-plot {}", config, out, more);
}

// The 1-based line of the first occurrence of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

// A refusal: exit 1, the output is ONE line "kiln: error: ..." (the run's own info lines aside)
// holding every one of `parts`, and no crash or raw library text ahead of kiln's words.
void expect_refused(const CommandResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(count_of(r.output, "kiln: error: "), 1) << r.output;
  const size_t at = r.output.find("kiln: error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at, r.output.find('\n', at) - at);
  for (const std::string& p : parts) EXPECT_TRUE(contains(line, p)) << "missing '" << p << "' in: " << line;
  // kiln's words come first: no library text right after "kiln: error: ".
  const std::string start = line.substr(0, std::min<size_t>(line.size(), 40));
  for (const char* raw : {"filesystem error", "[json.exception", "DataLoader:", "sgd:", "shape dimension"}) {
    EXPECT_FALSE(contains(start, raw)) << line;
  }
  for (const char* crash : {"terminate called", "Aborted", "Segmentation"}) {
    EXPECT_FALSE(contains(r.output, crash)) << r.output;
  }
}

// `config` written with `from` replaced by `to`: refused naming the file, the line of `to` and `key`.
void expect_key_refused(const TempDir& dir, const std::string& name, const std::string& text,
                        const std::string& to_find, const std::string& key, const std::string& problem) {
  const std::string path = write_config(dir, name, text);
  const auto r = kiln(train_args(path, dir.path("out-" + name)));
  expect_refused(r, {fmt::format("{}:{}: ", path, line_of(text, to_find)), key, problem});
}

// ---------------------------------------------------------------------------------------------
// Class 4: values that pass the checks but should not.

TEST(KilnValues, NonFiniteNumbersAreRefusedNamingFileLineAndKey) {
  TempDir dir;
  const std::string data = "source = \"synthetic\"\nsize = 32\n";
  expect_key_refused(dir, "lr_nan.toml", tiny_cnn_config(data, "type = \"sgd\"\nlr = nan\n"), "lr = nan",
                     "[solver] lr", "finite number, got nan");
  expect_key_refused(dir, "lr_inf.toml", tiny_cnn_config(data, "type = \"sgd\"\nlr = inf\n"), "lr = inf",
                     "[solver] lr", "finite number, got inf");
  expect_key_refused(dir, "gamma.toml",
                     tiny_cnn_config(data, "type = \"sgd\"\nlr = 0.1\n", "epochs = 2\nbatch = 8\n", "[1, 8, 8]",
                                     "type = \"step\"\nstep_size = 1\ngamma = nan\n"),
                     "gamma = nan", "[schedule] gamma", "finite number, got nan");
  expect_key_refused(dir, "min_lr.toml",
                     tiny_cnn_config(data, "type = \"sgd\"\nlr = 0.1\n", "epochs = 2\nbatch = 8\n", "[1, 8, 8]",
                                     "type = \"cosine\"\nmin_lr = -nan\n"),
                     "min_lr = -nan", "[schedule] min_lr", "finite number");
  expect_key_refused(dir, "clip.toml",
                     tiny_cnn_config(data, "type = \"sgd\"\nlr = 0.1\n", "epochs = 1\nbatch = 8\nclip_grad_norm = nan\n"),
                     "clip_grad_norm = nan", "[train] clip_grad_norm", "finite number, got nan");
  expect_key_refused(dir, "mean.toml", tiny_cnn_config("source = \"cifar\"\ntrain_files = \"x.bin\"\nmean = [inf]\n"),
                     "mean = [inf]", "[data] mean", "finite numbers, got inf");
  expect_key_refused(dir, "layer.toml",
                     replaced(tiny_cnn_config(data), "out_features = 4\n", "out_features = 4\nweight_init_value = nan\n"),
                     "weight_init_value = nan", "weight_init_value", "finite number, got nan");
}

TEST(KilnValues, IntegersThatWouldWrapAreRefusedNamingFileLineAndKey) {
  TempDir dir;
  // 4294967306 = 2^32 + 10: it trained as 10 classes.
  expect_key_refused(dir, "classes.toml", replaced(tiny_cnn_config(), "classes = 4", "classes = 4294967306"),
                     "classes = 4294967306", "[model] classes", "from 0 to 2147483647, got 4294967306");
  expect_key_refused(dir, "workers.toml", tiny_cnn_config("source = \"synthetic\"\nworkers = 4294967297\n"),
                     "workers = 4294967297", "[data] workers", "got 4294967297");
  expect_key_refused(dir, "label.toml",
                     tiny_cnn_config("source = \"csv\"\ntrain_file = \"x.csv\"\nlabel_column = 4294967296\n"),
                     "label_column = 4294967296", "[data] label_column", "got 4294967296");
  expect_key_refused(dir, "pad_neg.toml", tiny_cnn_config("source = \"cifar\"\ntrain_files = \"x.bin\"\npad = -4\n"),
                     "pad = -4", "[data] pad", "from 0 to 1024, got -4");
  expect_key_refused(dir, "pad_big.toml",
                     tiny_cnn_config("source = \"cifar\"\ntrain_files = \"x.bin\"\npad = 4294967300\n"),
                     "pad = 4294967300", "[data] pad", "got 4294967300");
  // epochs × steps per epoch overflowed to 0 steps: exit 0 and "checkpoint none".
  expect_key_refused(dir, "epochs.toml",
                     tiny_cnn_config("source = \"synthetic\"\nsize = 32\n", "type = \"sgd\"\nlr = 0.1\n",
                                     "epochs = 4611686018427387904\nbatch = 8\n"),
                     "epochs = 4611686018427387904", "[train] epochs", "from 1 to 2147483647");
}

// A bad flag: exit 2, one short line naming the flag, the range and what was given; never the
// 309 digits of the largest double, never "not in range" for what is not a number.
void expect_flag_refused(const CommandResult& r, const std::string& message) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(r.output.starts_with("kiln: error: " + message + "\n")) << r.output;
  EXPECT_LT(r.output.size(), 200u) << r.output;
  EXPECT_FALSE(contains(r.output, "not in range")) << r.output;
}

TEST(KilnValues, FlagsAreRangeCheckedWithShortMessages) {
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  expect_flag_refused(kiln(train_args(config, dir.path("o"), "--batch abc")),
                      "--batch: must be an integer from 1 to 2147483647, got 'abc'");
  expect_flag_refused(kiln(train_args(config, dir.path("o"), "--epochs 0")),
                      "--epochs: must be an integer from 1 to 2147483647, got '0'");
  expect_flag_refused(kiln(train_args(config, dir.path("o"), "--epochs 99999999999999999999")),
                      "--epochs: must be an integer from 1 to 2147483647, got '99999999999999999999'");
  expect_flag_refused(kiln(train_args(config, dir.path("o"), "--steps 1e3")),
                      "--steps: must be an integer from 1 to 9223372036854775807, got '1e3'");
  expect_flag_refused(kiln(train_args(config, dir.path("o"), "--seed -1")),
                      "--seed: must be an integer from 0 to 9223372036854775807, got '-1'");
  expect_flag_refused(kiln("bench train " + config + " --device cpu --iters nan"),
                      "--iters: must be an integer from 1 to 2147483647, got 'nan'");
  expect_flag_refused(kiln("sample " + config + " --weights " + config + " --temperature nan"),
                      "--temperature: must be a number from 0 to 1e+06, got 'nan'");
}

// ---------------------------------------------------------------------------------------------
// Class 5: messages that name nothing.

// A checkpoint of the tiny CNN after 2 steps, and ways to damage it.
class DamagedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = write_config(dir_, "tiny.toml", tiny_cnn_config());
    const auto r = kiln(train_args(config_, dir_.path("out"), "--steps 2"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    good_ = read_file(dir_.path("out/checkpoint.safetensors"));
    ASSERT_GT(good_.size(), 16u);
  }
  // The good checkpoint with its JSON header's first `from` replaced by `to` (lengths fixed up).
  std::string header_edited(const std::string& from, const std::string& to) const {
    uint64_t n = 0;
    std::memcpy(&n, good_.data(), 8);  // little-endian, as safetensors and x86/ARM
    std::string header = good_.substr(8, n);
    const size_t at = header.find(from);
    EXPECT_NE(at, std::string::npos) << from << " in " << header;
    header.replace(at, from.size(), to);
    const uint64_t m = header.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &m, 8);
    return out + header + good_.substr(8 + n);
  }
  CommandResult resume(const std::string& name, const std::string& bytes) {
    write_file(dir_.path(name), bytes);
    return kiln(train_args(config_, dir_.path("resumed"), "--resume " + dir_.path(name)));
  }
  std::string path(const std::string& name) const { return dir_.path(name); }

  TempDir dir_;
  std::string config_, good_;
};

TEST_F(DamagedCheckpoint, ShapesThatOverflowOrGoNegativeNameTheFileAndTensor) {
  // 2^64 - 1 read as an int64 was -1: "shape dimension 0 is negative: -1 (in ())".
  expect_refused(resume("wrap.safetensors", header_edited("\"shape\":[4,1,3,3]", "\"shape\":[18446744073709551615,1,3,3]")),
                 {path("wrap.safetensors"), "'conv1.weight'", "impossible shape"});
  expect_refused(resume("huge.safetensors", header_edited("\"shape\":[4,1,3,3]", "\"shape\":[4294967296,4294967296,3,3]")),
                 {path("huge.safetensors"), "'conv1.weight'", "impossible shape"});
  expect_refused(resume("neg.safetensors", header_edited("\"shape\":[4,1,3,3]", "\"shape\":[-1,1,3,3]")),
                 {path("neg.safetensors"), "'conv1.weight'", "integers >= 0"});
}

TEST_F(DamagedCheckpoint, BadResumeMetadataNamesTheCheckpointAndField) {
  expect_refused(resume("step.safetensors", header_edited("\"step\":\"2\"", "\"step\":\"-4\"")),
                 {path("step.safetensors"), "metadata 'step' = '-4' is not a count"});
  expect_refused(resume("solver.safetensors", header_edited("\"solver_steps\":\"2\"", "\"solver_steps\":\"-4\"")),
                 {path("solver.safetensors"), "metadata 'solver_steps' = '-4'"});
  // 4 batches per epoch: batch 2 + 997 is past the end ("DataLoader: cannot seek ...").
  expect_refused(resume("batch.safetensors", header_edited("\"batch\":\"2\"", "\"batch\":\"999\"")),
                 {path("batch.safetensors"), "metadata 'batch' = 999", "4 batches"});
  expect_refused(resume("epoch.safetensors", header_edited("\"epoch\":\"0\"", "\"epoch\":\"9223372036854775807\"")),
                 {path("epoch.safetensors"), "metadata 'epoch'"});
  expect_refused(resume("rng.safetensors", header_edited("\"rng\":\"", "\"rng\":\"[")),
                 {path("rng.safetensors"), "metadata 'rng' is not a JSON object of numbers"});
}

TEST_F(DamagedCheckpoint, BrokenJsonIsExplainedBeforeTheParsersWords) {
  std::string bytes = good_;
  bytes[bytes.find("\"shape\"")] = '!';
  const auto r = resume("json.safetensors", bytes);
  expect_refused(r, {path("json.safetensors"), "header is not valid JSON", "the JSON parser says: [json.exception"});
  EXPECT_LT(r.output.find("not valid JSON"), r.output.find("[json.exception")) << r.output;
}

TEST(KilnValues, ALayerAfterTheLossIsAConfigError) {
  TempDir dir;
  const std::string text = tiny_cnn_config() + "";
  const std::string moved =
      replaced(text, "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n",
               "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n[[layer]]\ntype = \"ReLU\"\nname = \"after\"\n");
  const std::string path = write_config(dir, "late.toml", moved);
  const auto r = kiln(train_args(path, dir.path("o")));
  expect_refused(r, {fmt::format("{}:{}: layer 'after' comes after the loss layer 'loss'", path,
                                 line_of(moved, "[[layer]]\ntype = \"ReLU\"\nname = \"after\"")),
                     "the loss must be the last [[layer]]"});
  EXPECT_FALSE(contains(r.output, "keep(")) << r.output;
}

TEST(KilnValues, AHugeDilationNamesTheLayer) {
  TempDir dir;
  const std::string text = replaced(tiny_cnn_config(), "pad = 1\n", "pad = 1\ndilation = 1073741824\n");
  const std::string path = write_config(dir, "dilation.toml", text);
  // It wrapped to "shape dimension 2 is negative: -2147483638 (in (8, 4))".
  expect_refused(kiln(train_args(path, dir.path("o"))),
                 {fmt::format("{}:{}: layer 'conv1' (Conv2d)", path, line_of(text, "[[layer]]\ntype = \"Conv2d\"")),
                  "dilation 1073741824x1073741824", "larger than the padded input 10x10"});
}

TEST(KilnValues, AnOutFolderThatCannotBeMadeIsNamed) {
  TempDir dir;
  const std::string config = write_config(dir, "tiny.toml", tiny_cnn_config());
  write_file(dir.path("file"), "x");
  expect_refused(kiln(train_args(config, dir.path("file/sub"))),
                 {"cannot create the output folder '" + dir.path("file/sub") + "' (--out)", "Not a directory"});
  expect_refused(kiln(train_args(config, dir.path("file"))), {"cannot create the output folder", "(--out)"});
}

TEST(KilnValues, WorkerThreadsTheSystemRefusesAreNamed) {
  if (std::string(KILN_FLAVOUR) == "cuda") GTEST_SKIP() << "the CUDA runtime reserves more address space than the limit";
  TempDir dir;
  const std::string config = write_config(dir, "workers.toml", tiny_cnn_config("source = \"synthetic\"\nworkers = 256\n"));
  // 256 threads of 8 MiB stacks do not fit in 1 GB of address space: pthread_create fails (EAGAIN).
  const auto r = run_command("ulimit -v 1000000; " + kKiln + " " + train_args(config, dir.path("o")));
  expect_refused(r, {"could not start worker thread", "of 256", "fewer [data] workers"});
}

}  // namespace
}  // namespace kiln::train_test
