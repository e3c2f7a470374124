#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "tests/data/fixtures.h"

namespace kiln::data::test {
namespace {

using ::testing::HasSubstr;

struct IdxFiles {
  std::string images, labels;
};

IdxFiles write_idx_pair(const TempDir& dir, int n, int h, int w, bool gz, const std::string& stem = "d") {
  IdxFiles f{dir.path(stem + "-images" + (gz ? ".gz" : "")), dir.path(stem + "-labels" + (gz ? ".gz" : ""))};
  const auto images = idx_bytes({uint32_t(n), uint32_t(h), uint32_t(w)}, fixture_images(n, h, w));
  const auto labels = idx_bytes({uint32_t(n)}, fixture_labels(n, 10));
  if (gz) {
    write_gzip_file(f.images, images);
    write_gzip_file(f.labels, labels);
  } else {
    write_file(f.images, images);
    write_file(f.labels, labels);
  }
  return f;
}

TEST(Idx, RawAndGzipDecodeToTheSameScaledPixels) {
  TempDir dir;
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "raw");
    const IdxFiles f = write_idx_pair(dir, 13, 5, 4, gz);
    IdxDataset ds(f.images, f.labels);
    EXPECT_EQ(ds.size(), 13);
    EXPECT_EQ(ds.sample_shape(), (Shape{1, 5, 4}));
    EXPECT_EQ(ds.num_classes(), 10);
    std::vector<float> x(20);
    int32_t label = -1;
    for (int64_t i : {0, 7, 12}) {
      ds.get(i, SampleContext{}, x.data(), &label, nullptr);
      EXPECT_EQ(label, i % 10);
      for (int p = 0; p < 20; ++p) ASSERT_FLOAT_EQ(x[p], fixture_pixel(i, p) / 255.0f);
    }
  }
}

TEST(Idx, MeanStdNormalisation) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 3, 2, 2, false);
  IdxDataset ds(f.images, f.labels, IdxOptions{.normalize = {{0.5f}, {0.25f}}});
  std::vector<float> x(4);
  int32_t label;
  ds.get(2, SampleContext{}, x.data(), &label, nullptr);
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(x[p], (fixture_pixel(2, p) / 255.0f - 0.5f) / 0.25f, 1e-5f);
}

TEST(Idx, WrongMagicNumber) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 3, 2, 2, false);
  auto bytes = read_file(f.images);
  bytes[0] = 0x1F;
  bytes[1] = 0x00;
  write_file(dir.path("bad-magic"), bytes);
  const std::string msg = error_of([&] { IdxDataset(dir.path("bad-magic"), f.labels); });
  EXPECT_THAT(msg, HasSubstr("bad-magic"));
  EXPECT_THAT(msg, HasSubstr("wrong magic number 0x1F000803"));
}

TEST(Idx, LabelsAndImagesSwapped) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 3, 2, 2, false);
  EXPECT_THAT(error_of([&] { IdxDataset(f.labels, f.images); }), HasSubstr("is it a labels file?"));
}

TEST(Idx, TruncatedRawFile) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 5, 4, 4, false);
  auto bytes = read_file(f.images);
  bytes.resize(bytes.size() - 10);
  write_file(dir.path("short"), bytes);
  const std::string msg = error_of([&] { IdxDataset(dir.path("short"), f.labels); });
  EXPECT_THAT(msg, HasSubstr("short is truncated"));
  EXPECT_THAT(msg, HasSubstr("80 bytes of data but 70"));
  bytes.resize(9);  // inside the header
  write_file(dir.path("header"), bytes);
  EXPECT_THAT(error_of([&] { IdxDataset(dir.path("header"), f.labels); }), HasSubstr("truncated"));
}

// Found while writing tests/fuzz/fuzz_idx (by reading read_idx; the target's consistency check
// reports it: tests/fuzz/corpus/idx/crash-dims-overflow.idx):
// 2^20 * 2^20 * 2^24 wrapped to 0 in 64 bits, so a 16-byte header with no data was accepted.
TEST(Idx, DimensionProductThatWouldWrapIsRefused) {
  TempDir dir;
  write_file(dir.path("wrap"), idx_bytes({1u << 20, 1u << 20, 1u << 24}, {}));
  const std::string msg = error_of([&] { read_idx(dir.path("wrap")); });
  EXPECT_THAT(msg, HasSubstr("wrap: IDX dimensions are implausibly large (dimension 2 is 16777216)"));
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 5, 4, 4, false);
  auto bytes = read_file(f.labels);
  bytes.push_back(1);
  write_file(dir.path("long"), bytes);
  EXPECT_THAT(error_of([&] { IdxDataset(f.images, dir.path("long")); }), HasSubstr("1 unexpected bytes"));
}

// Issue 18: a small gzip file that inflates far past its header's promise is refused while
// inflating, and a file of no fixed size past a limit.
TEST(Idx, GzipInflatingPastTheHeaderIsRefusedEarly) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 5, 4, 4, false);
  auto bytes = read_file(f.labels);
  bytes.resize(bytes.size() + (80u << 20));  // 80 MiB of zeros after 5 labels: about 80 KB gzipped
  write_gzip_file(dir.path("bomb.gz"), bytes);
  EXPECT_THAT(error_of([&] { IdxDataset(f.images, dir.path("bomb.gz")); }),
              HasSubstr("bomb.gz is corrupt: more than 64 MiB of unexpected bytes after the 5 bytes"));
  EXPECT_THAT(error_of([&] { read_file_maybe_gzip(dir.path("bomb.gz"), 1000); }),
              HasSubstr("bomb.gz holds (or inflates to) more than 1000 bytes"));
  EXPECT_EQ(read_file_maybe_gzip(f.labels, 13).size(), 13u);
}

TEST(Idx, NonRegularFilesAreRefused) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 5, 4, 4, false);
  EXPECT_THAT(error_of([&] { IdxDataset("/dev/zero", f.labels); }),
              HasSubstr("data file /dev/zero is a character device, not a regular file"));
  EXPECT_THAT(error_of([&] { read_file(dir.str()); }), HasSubstr("is a directory, not a regular file"));
}

TEST(Idx, TruncatedAndCorruptGzip) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 50, 8, 8, true);
  auto bytes = read_file(f.images);
  auto truncated = bytes;
  truncated.resize(bytes.size() / 2);
  write_file(dir.path("half.gz"), truncated);
  std::string msg = error_of([&] { IdxDataset(dir.path("half.gz"), f.labels); });
  EXPECT_THAT(msg, HasSubstr("half.gz"));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  auto corrupt = bytes;
  for (size_t i = 20; i < corrupt.size() - 8; i += 7) corrupt[i] ^= 0x5A;
  write_file(dir.path("corrupt.gz"), corrupt);
  msg = error_of([&] { IdxDataset(dir.path("corrupt.gz"), f.labels); });
  EXPECT_THAT(msg, HasSubstr("corrupt.gz"));
}

TEST(Idx, CountMismatch) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 5, 2, 2, false);
  write_file(dir.path("labels4"), idx_bytes({4}, fixture_labels(4, 10)));
  const std::string msg = error_of([&] { IdxDataset(f.images, dir.path("labels4")); });
  EXPECT_THAT(msg, HasSubstr("count mismatch"));
  EXPECT_THAT(msg, HasSubstr("labels4 has 4 labels"));
  EXPECT_THAT(msg, HasSubstr("has 5 images"));
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 12, 2, 2, false);
  EXPECT_THAT(error_of([&] { IdxDataset(f.images, f.labels, IdxOptions{.num_classes = 5}); }),
              HasSubstr("label 5 of sample 5 is not below num_classes = 5"));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { IdxDataset(dir.path("nope"), dir.path("nope2")); }),
              HasSubstr("cannot open"));
}

TEST(Idx, PadCropFlipAugmentation) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, 4, 6, 6, false);
  IdxOptions opt;
  opt.augment = Augment{.pad = 2, .crop = 6, .random_crop = true, .hflip = true};
  IdxDataset ds(f.images, f.labels, opt);
  EXPECT_EQ(ds.sample_shape(), (Shape{1, 6, 6}));
  std::vector<float> a(36), b(36), plain(36);
  int32_t l;
  // Evaluation: centred crop of the padded image = the image itself.
  ds.get(3, SampleContext{.seed = 1, .epoch = 0, .train = false}, plain.data(), &l, nullptr);
  for (int p = 0; p < 36; ++p) ASSERT_FLOAT_EQ(plain[p], fixture_pixel(3, p) / 255.0f);
  // Training: keyed by (seed, epoch, index), so repeatable, and varied across epochs.
  int differing_epochs = 0;
  for (int e = 0; e < 8; ++e) {
    ds.get(3, SampleContext{.seed = 1, .epoch = e, .train = true}, a.data(), &l, nullptr);
    ds.get(3, SampleContext{.seed = 1, .epoch = e, .train = true}, b.data(), &l, nullptr);
    EXPECT_EQ(a, b);
    differing_epochs += a != plain;
    // Every value is a pixel of the image or the zero padding.
    for (float v : a) {
      bool found = v == 0.0f;
      for (int p = 0; p < 36 && !found; ++p) found = std::abs(v - fixture_pixel(3, p) / 255.0f) < 1e-6f;
      ASSERT_TRUE(found) << v;
    }
  }
  EXPECT_GE(differing_epochs, 5);
}

// The real Fashion-MNIST files, when this machine has them.
constexpr const char* kFashion = "/usr/share/datasets/fashion-mnist";

TEST(FashionMnist, TrainAndTestSets) {
  if (!std::filesystem::exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not found in " << kFashion;
  const auto t0 = std::chrono::steady_clock::now();
  IdxDataset train(std::string(kFashion) + "/train-images-idx3-ubyte.gz",
                   std::string(kFashion) + "/train-labels-idx1-ubyte.gz");
  IdxDataset test(std::string(kFashion) + "/t10k-images-idx3-ubyte.gz",
                  std::string(kFashion) + "/t10k-labels-idx1-ubyte.gz");
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.sample_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(test.num_classes(), 10);
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < train.size(); ++i) counts.at(train.label(i))++;
  for (int c : counts) EXPECT_EQ(c, 6000);  // Fashion-MNIST is balanced
  // A full epoch of batches: decode is done, so this is memcpy + scale.
  auto ds = std::make_shared<IdxDataset>(std::move(train));
  DataLoader loader(ds, LoaderOptions{.batch_size = 64, .seed = 3});
  const auto t1 = std::chrono::steady_clock::now();
  int64_t seen = 0;
  float lo = 1, hi = 0;
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    Batch batch = loader.next();
    seen += batch.size();
    const float* x = batch.x.data<float>();
    for (int64_t i = 0; i < batch.x.numel(); i += 97) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  }
  const double epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_EQ(seen, 60000);
  EXPECT_GE(lo, 0.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_GT(hi, 0.9f);
  std::printf("[ info ] Fashion-MNIST: decoded both sets in %.2f s; one epoch of batches in %.3f s (%.0f images/s)\n",
              load_s, epoch_s, 60000 / epoch_s);
}

}  // namespace
}  // namespace kiln::data::test
