// Autoencoders ([data] target = "input"): the targets are the input (IDX images before
// normalisation, CSV features), a tiny MLP autoencoder trains, `kiln eval --reconstructions` writes a
// PNG grid whose top row is the input pixels (decoded here with zlib), `--json` reports the
// regression metrics, and mismatched configs are refused in one line.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/data/data.h"
#include "tests/train/helpers.h"
#include "tools/png_writer.h"
#include "tools/reconstruction_grid.h"
#include "tools/train/data_sources.h"

namespace kiln::train_test {
namespace {

const std::string kKiln = KILN_BINARY;
CommandResult kiln(const std::string& args) { return run_command(kKiln + " " + args); }

std::string u32be(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// IDX files of n side x side images, each one of 4 patterns (bars, a square) plus noise, and labels.
std::vector<uint8_t> write_idx(const TempDir& dir, const std::string& stem, int n, int side, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * side * side));
  std::string labels = u32be(0x801) + u32be(static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) {
    const int kind = static_cast<int>(rng() % 4);
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const bool on = kind == 0 ? y < side / 2 : kind == 1 ? x < side / 2 : kind == 2 ? (x + y) % 2 == 0
                                                                                         : (x > 0 && y > 0 && x < side - 1 && y < side - 1);
        pixels[static_cast<size_t>((i * side + y) * side + x)] = static_cast<uint8_t>((on ? 200 : 30) + rng() % 25);
      }
    }
    labels += static_cast<char>(kind);
  }
  write_file(dir.path(stem + "-images"), u32be(0x803) + u32be(static_cast<uint32_t>(n)) +
                                             u32be(static_cast<uint32_t>(side)) + u32be(static_cast<uint32_t>(side)) +
                                             std::string(pixels.begin(), pixels.end()));
  write_file(dir.path(stem + "-labels"), labels);
  return pixels;
}

// An MLP autoencoder on (1, side, side) IDX images: Flatten, Linear(hidden), ReLU, Linear(side²),
// Sigmoid, `loss`; `data_extra` goes into [data].
std::string ae_config(const TempDir& dir, int side, const std::string& data_extra = "",
                      const std::string& loss = "MSELoss", const std::string& train = "epochs = 30\n") {
  return fmt::format(
      "[model]\nname = \"ae\"\ninput = [1, {0}, {0}]\n\n"
      "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"enc\"\nout_features = 6\n\n"
      "[[layer]]\ntype = \"ReLU\"\nname = \"relu\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"dec\"\nout_features = {1}\n\n"
      "[[layer]]\ntype = \"Sigmoid\"\nname = \"out\"\n\n"
      "[[layer]]\ntype = \"{2}\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"idx\"\ntarget = \"input\"\ntrain_images = \"{3}\"\ntrain_labels = \"{4}\"\n"
      "test_images = \"{5}\"\ntest_labels = \"{6}\"\nworkers = 0\n{7}\n"
      "[solver]\ntype = \"adam\"\nlr = 0.01\n\n[train]\nbatch = 16\nseed = 2\nlog_every = 4\n{8}",
      side, side * side, loss, dir.path("train-images"), dir.path("train-labels"), dir.path("test-images"),
      dir.path("test-labels"), data_extra, train);
}

// The batch 0 of a split, without shuffling.
data::Batch first_batch(const std::shared_ptr<const data::Dataset>& ds, int64_t n) {
  data::LoaderOptions o;
  o.batch_size = n;
  o.shuffle = false;
  o.train = false;
  return data::DataLoader(ds, o).next();
}

TEST(Autoencoder, IdxTargetsAreTheInputPixels) {
  TempDir dir;
  const std::vector<uint8_t> px = write_idx(dir, "train", 8, 5, 1);
  write_idx(dir, "test", 4, 5, 2);
  const DataSplits d = make_datasets(load_config(write_config(dir, "ae.toml", ae_config(dir, 5))));
  EXPECT_EQ(d.train->task(), data::Task::Regression);
  EXPECT_EQ(d.train->target_dim(), 25);
  const data::Batch b = first_batch(d.train, 8);
  ASSERT_EQ(b.targets.shape(), (Shape{8, 25}));
  EXPECT_EQ(b.x.shape(), (Shape{8, 1, 5, 5}));
  for (int64_t i = 0; i < b.x.numel(); ++i) {
    ASSERT_EQ(b.targets.data<float>()[i], b.x.data<float>()[i]) << i;  // exactly
    ASSERT_EQ(std::lround(b.targets.data<float>()[i] * 255), px[static_cast<size_t>(i)]) << i;
  }
  // With mean/std the input is normalised but the targets stay the [0, 1] pixels.
  const DataSplits n =
      make_datasets(load_config(write_config(dir, "norm.toml", ae_config(dir, 5, "mean = [0.5]\nstd = [0.25]\n"))));
  const data::Batch c = first_batch(n.test, 4);
  const data::Batch raw = first_batch(d.test, 4);
  for (int64_t i = 0; i < c.x.numel(); ++i) {
    ASSERT_NEAR(c.x.data<float>()[i], (raw.x.data<float>()[i] - 0.5f) / 0.25f, 1e-5f) << i;
    ASSERT_NEAR(c.targets.data<float>()[i], raw.x.data<float>()[i], 1e-6f) << i;
  }
}

TEST(Autoencoder, CsvTargetsAreTheFeatures) {
  TempDir dir;
  write_file(dir.path("t.csv"), "a,b,c,label\n1,2,3,0\n4,5,6,1\n7,9,8,1\n");
  const std::string config = write_config(
      dir, "csv.toml",
      "[model]\nname = \"c\"\ninput = [3]\n\n[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = 3\n\n"
      "[[layer]]\ntype = \"MSELoss\"\nname = \"loss\"\n\n[data]\nsource = \"csv\"\ntarget = \"input\"\n"
      "standardize = true\ntrain_file = \"" + dir.path("t.csv") + "\"\n\n[train]\nbatch = 3\n");
  const DataSplits d = make_datasets(load_config(config));
  const data::Batch b = first_batch(d.train, 3);
  ASSERT_EQ(b.targets.shape(), (Shape{3, 3}));
  EXPECT_NEAR(b.x.data<float>()[0], -1.2247449f, 1e-5f);  // standardised: the targets are what the net sees
  for (int64_t i = 0; i < 9; ++i) ASSERT_EQ(b.targets.data<float>()[i], b.x.data<float>()[i]) << i;
  // It trains (float targets through the net's label input).
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.epochs = 2;
  const TrainResult r = run_training(config, o);
  EXPECT_TRUE(r.regression);
  // ... and draws no pictures.
  const CommandResult e = kiln(fmt::format("eval {} --device cpu --weights {} --reconstructions {}", config,
                                           dir.path("out/checkpoint.safetensors"), dir.path("r.png")));
  EXPECT_NE(e.exit_code, 0);
  EXPECT_TRUE(contains(e.output, "--reconstructions draws images of 1 or 3 channels, but the data (source = \"csv\")"))
      << e.output;
  EXPECT_EQ(count_of(e.output, "\n"), 1) << e.output;
}

// A PNG's chunks, CRCs checked, and its IDAT inflated.
struct DecodedPng {
  uint32_t width = 0, height = 0;
  int color = -1;
  std::vector<uint8_t> rows;  // height scanlines, each a filter byte + the pixels
};
DecodedPng decode_png(const std::string& png) {
  DecodedPng d;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto u32 = [&](size_t at) {
    return (uint32_t{static_cast<uint8_t>(png[at])} << 24) | (uint32_t{static_cast<uint8_t>(png[at + 1])} << 16) |
           (uint32_t{static_cast<uint8_t>(png[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(png[at + 3])};
  };
  std::string idat;
  std::vector<std::string> types;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t len = u32(at);
    const std::string type = png.substr(at + 4, 4), body = png.substr(at + 4, 4 + len);
    EXPECT_EQ(u32(at + 8 + len), crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())))
        << type;
    types.push_back(type);
    if (type == "IHDR") {
      d.width = u32(at + 8);
      d.height = u32(at + 12);
      EXPECT_EQ(png[at + 16], 8);  // bit depth
      d.color = png[at + 17];
    }
    if (type == "IDAT") idat += png.substr(at + 8, len);
    at += 12 + len;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  const size_t channels = d.color == 2 ? 3 : 1;
  uLongf size = static_cast<uLongf>(d.height * (1 + d.width * channels));
  d.rows.resize(size);
  EXPECT_EQ(uncompress(d.rows.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), static_cast<uLong>(idat.size())),
            Z_OK);
  EXPECT_EQ(size, d.rows.size());
  return d;
}

TEST(Autoencoder, PngEncoderRoundTripsGrayAndRgb) {
  for (int channels : {1, 3}) {
    Image8 im{.width = 5, .height = 3, .channels = channels, .pixels = {}};
    for (int i = 0; i < 5 * 3 * channels; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 17 % 256));
    const DecodedPng d = decode_png(encode_png(im));
    EXPECT_EQ(d.width, 5u);
    EXPECT_EQ(d.height, 3u);
    EXPECT_EQ(d.color, channels == 1 ? 0 : 2);
    const size_t row = static_cast<size_t>(5 * channels);
    for (size_t y = 0; y < 3; ++y) {
      EXPECT_EQ(d.rows[y * (row + 1)], 0);  // filter none
      for (size_t x = 0; x < row; ++x) ASSERT_EQ(d.rows[y * (row + 1) + 1 + x], im.pixels[y * row + x]);
    }
  }
  EXPECT_TRUE(contains(error_of([] { encode_png(Image8{.width = 2, .height = 2, .channels = 2, .pixels = {}}); }),
                       "2 channels"));
}

TEST(Autoencoder, GridOfRgbImagesIsPlanarToInterleaved) {
  Tensor a = Tensor::empty(Shape{2, 3 * 2 * 2}, Device::cpu());
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = static_cast<float>(i) / 23.0f;
  const Tensor b = a.clone();
  const Image8 im = reconstruction_grid(a, b, Shape{3, 2, 2});
  EXPECT_EQ(im.width, 4);
  EXPECT_EQ(im.height, 4);
  // Image 1, channel 2, pixel (y 1, x 0) sits at grid (1, 2 + 0), and again a row of images lower.
  const uint8_t want = static_cast<uint8_t>(std::lround(static_cast<float>(12 + 8 + 2) / 23.0f * 255));
  EXPECT_EQ(im.pixels[static_cast<size_t>((1 * 4 + 2) * 3 + 2)], want);
  EXPECT_EQ(im.pixels[static_cast<size_t>((3 * 4 + 2) * 3 + 2)], want);
}

// Trains, evaluates with --json and draws the reconstructions of the first test images.
TEST(Autoencoder, TinyMlpTrainsAndEvalDrawsReconstructions) {
  TempDir dir;
  write_idx(dir, "train", 96, 6, 3);
  const std::vector<uint8_t> test_px = write_idx(dir, "test", 20, 6, 4);
  const std::string config = write_config(dir, "ae.toml", ae_config(dir, 6, "mean = [0.4]\nstd = [0.3]\n"));
  TrainOptions once;
  once.out_dir = dir.path("once");
  once.epochs = 1;
  once.steps = 1;
  const TrainResult first = run_training(config, once);
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(first.test_loss && r.test_loss && r.test_rmse);
  EXPECT_TRUE(r.regression);
  EXPECT_LT(*r.test_loss, 0.3 * *first.test_loss) << "after one step " << *first.test_loss;
  RecordProperty("test_loss", fmt::format("{:.5f}", *r.test_loss));

  const CommandResult e = kiln(fmt::format("eval {} --device cpu --json --weights {} --reconstructions {} --count 5",
                                           config, dir.path("out/checkpoint.safetensors"), dir.path("r.png")));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  double loss = 0, rmse = 0, r2 = 0;
  int samples = 0;
  ASSERT_EQ(std::sscanf(e.output.c_str() + e.output.find('{'), "{\"loss\": %lf, \"rmse\": %lf, \"r2\": %lf, \"samples\": %d}", &loss,
                        &rmse, &r2, &samples), 4) << e.output;
  EXPECT_EQ(samples, 20);
  EXPECT_NEAR(loss, *r.test_loss, 1e-5);
  EXPECT_NEAR(rmse * rmse, loss, 1e-5);
  EXPECT_GT(r2, 0.4) << e.output;

  const DecodedPng png = decode_png(read_file(dir.path("r.png")));
  ASSERT_EQ(png.width, 5u * 6);
  ASSERT_EQ(png.height, 2u * 6);
  EXPECT_EQ(png.color, 0);
  double error = 0;
  for (size_t img = 0; img < 5; ++img) {
    for (size_t y = 0; y < 6; ++y) {
      for (size_t x = 0; x < 6; ++x) {
        const uint8_t want = test_px[(img * 6 + y) * 6 + x];
        ASSERT_EQ(png.rows[y * 31 + 1 + img * 6 + x], want) << img << " " << y << " " << x;  // the originals
        error += std::abs(png.rows[(y + 6) * 31 + 1 + img * 6 + x] - want);
      }
    }
  }
  EXPECT_LT(error / (5 * 36), 0.1 * 255) << "reconstructions far from the originals";
}

// BCELoss (probabilities against [0, 1] pixels) trains the same autoencoder: the test RMSE falls.
TEST(Autoencoder, TinyMlpTrainsWithBceLoss) {
  TempDir dir;
  write_idx(dir, "train", 96, 6, 7);
  write_idx(dir, "test", 20, 6, 8);
  const std::string config = write_config(dir, "bce.toml", ae_config(dir, 6, "mean = [0.4]\nstd = [0.3]\n", "BCELoss"));
  TrainOptions once;
  once.out_dir = dir.path("once");
  once.steps = 1;
  const TrainResult first = run_training(config, once);
  TrainOptions o;
  o.out_dir = dir.path("out");
  const TrainResult r = run_training(config, o);
  ASSERT_TRUE(first.test_rmse && r.test_rmse && r.test_loss);
  EXPECT_LT(*r.test_rmse, 0.5 * *first.test_rmse) << "after one step " << *first.test_rmse;
  EXPECT_LT(*r.test_loss, *first.test_loss);
  RecordProperty("test_rmse", fmt::format("{:.5f}", *r.test_rmse));
}

TEST(Autoencoder, MismatchedConfigsAreRefusedInOneLine) {
  TempDir dir;
  write_idx(dir, "train", 8, 4, 5);
  write_idx(dir, "test", 4, 4, 6);
  auto train_error = [&](const std::string& name, const std::string& text) {
    const CommandResult r = kiln(fmt::format("train {} --device cpu --out {} --no-plot",
                                             write_config(dir, name, text), dir.path("out")));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(count_of(r.output, "\n"), 1) << r.output;
    return r.output;
  };
  const std::string xent = train_error("xent.toml", ae_config(dir, 4, "", "SoftmaxCrossEntropy"));
  EXPECT_TRUE(contains(xent, "the loss layer 'loss' is SoftmaxCrossEntropy")) << xent;
  EXPECT_TRUE(contains(xent, "target = \"input\"")) << xent;
  std::string unknown = ae_config(dir, 4);
  unknown.replace(unknown.find("target = \"input\""), 16, "target = \"pixels\"");
  const std::string u = train_error("unknown.toml", unknown);
  EXPECT_TRUE(contains(u, "must be label or input, got \"pixels\"")) << u;
  const std::string text = train_error(
      "text.toml", lm_config({.name = "lm", .seq_len = 8, .vocab = 8, .embed = 4, .hidden = 4, .lstm = {},
                              .data = "source = \"text\"\ntarget = \"input\"\nfiles = [\"" + dir.path("none.txt") +
                                      "\"]\n",
                              .train = "epochs = 1\n"}));
  EXPECT_TRUE(contains(text, "[data] target is not a key of source = \"text\"")) << text;
  // --reconstructions on a classifier.
  const std::string cls = write_config(dir, "cls.toml", tiny_cnn_config());
  const CommandResult c = kiln(fmt::format("eval {} --weights {} --reconstructions {}", cls, cls, dir.path("x.png")));
  EXPECT_NE(c.exit_code, 0);
  EXPECT_TRUE(contains(c.output, "--reconstructions needs an autoencoder ([data] target = \"input\")")) << c.output;
}

}  // namespace
}  // namespace kiln::train_test
