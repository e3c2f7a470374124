#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/data/fixtures.h"

namespace kiln::data::test {
namespace {

using ::testing::HasSubstr;

// n records; pixel p of record i = (i + p) % 251; labels from the callback.
std::vector<uint8_t> cifar_records(int n, bool c100, int first = 0) {
  std::vector<uint8_t> out;
  for (int i = first; i < first + n; ++i) {
    if (c100) {
      out.push_back(static_cast<uint8_t>(i % 20));   // coarse
      out.push_back(static_cast<uint8_t>(i % 100));  // fine
    } else {
      out.push_back(static_cast<uint8_t>(i % 10));
    }
    for (int p = 0; p < 3072; ++p) out.push_back(static_cast<uint8_t>((i + p) % 251));
  }
  return out;
}

TEST(Cifar, Cifar10RecordsAcrossFiles) {
  TempDir dir;
  write_file(dir.path("data_batch_1.bin"), cifar_records(7, false, 0));
  write_gzip_file(dir.path("data_batch_2.bin.gz"), cifar_records(5, false, 7));
  CifarDataset ds({dir.path("data_batch_1.bin"), dir.path("data_batch_2.bin.gz")},
                  CifarOptions{.normalize = {{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.5f}}});
  EXPECT_EQ(ds.size(), 12);
  EXPECT_EQ(ds.sample_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(ds.num_classes(), 10);
  std::vector<float> x(3072);
  int32_t label;
  const float mean[3] = {0.5f, 0.4f, 0.3f}, stdv[3] = {0.2f, 0.25f, 0.5f};
  for (int i : {0, 6, 7, 11}) {
    ds.get(i, SampleContext{}, x.data(), &label, nullptr);
    EXPECT_EQ(label, i % 10);
    for (int p = 0; p < 3072; p += 101) {
      const int c = p / 1024;
      EXPECT_NEAR(x[p], (((i + p) % 251) / 255.0f - mean[c]) / stdv[c], 1e-5f) << i << " " << p;
    }
  }
}

TEST(Cifar, Cifar100FineAndCoarse) {
  TempDir dir;
  write_file(dir.path("train.bin"), cifar_records(120, true));
  CifarDataset fine({dir.path("train.bin")}, CifarOptions{.kind = CifarKind::Cifar100Fine});
  CifarDataset coarse({dir.path("train.bin")}, CifarOptions{.kind = CifarKind::Cifar100Coarse});
  EXPECT_EQ(fine.num_classes(), 100);
  EXPECT_EQ(coarse.num_classes(), 20);
  std::vector<float> x(3072);
  int32_t a, b;
  fine.get(113, SampleContext{}, x.data(), &a, nullptr);
  coarse.get(113, SampleContext{}, x.data(), &b, nullptr);
  EXPECT_EQ(a, 13);
  EXPECT_EQ(b, 113 % 20);
  EXPECT_FLOAT_EQ(x[5], ((113 + 5) % 251) / 255.0f);
}

TEST(Cifar, TruncatedFile) {
  TempDir dir;
  auto bytes = cifar_records(3, false);
  bytes.pop_back();
  write_file(dir.path("data_batch_1.bin"), bytes);
  const std::string msg = error_of([&] { CifarDataset({dir.path("data_batch_1.bin")}); });
  EXPECT_THAT(msg, HasSubstr("data_batch_1.bin is truncated"));
  EXPECT_THAT(msg, HasSubstr("3073-byte records"));
}

TEST(Cifar, WrongKindGivesALabelError) {
  TempDir dir;
  // A CIFAR-100 file (3074-byte records) read as CIFAR-10: sizes may not even divide; make them.
  std::vector<uint8_t> bytes(3073 * 2, 0);
  bytes[3073] = 42;  // label of record 1
  write_file(dir.path("x.bin"), bytes);
  EXPECT_THAT(error_of([&] { CifarDataset({dir.path("x.bin")}); }),
              HasSubstr("x.bin: record 1 has label 42, but CIFAR-10 has 10 classes"));
  write_file(dir.path("empty.bin"), {});
  EXPECT_THAT(error_of([&] { CifarDataset({dir.path("empty.bin")}); }), HasSubstr("empty.bin is empty"));
}

TEST(Cifar, StandardAugmentation) {
  TempDir dir;
  write_file(dir.path("b.bin"), cifar_records(4, false));
  CifarDataset ds({dir.path("b.bin")},
                  CifarOptions{.augment = {.pad = 4, .crop = 32, .random_crop = true, .hflip = true}});
  EXPECT_EQ(ds.sample_shape(), (Shape{3, 32, 32}));
  std::vector<float> a(3072), b(3072);
  int32_t l;
  ds.get(2, SampleContext{.seed = 9, .epoch = 4}, a.data(), &l, nullptr);
  ds.get(2, SampleContext{.seed = 9, .epoch = 4}, b.data(), &l, nullptr);
  EXPECT_EQ(a, b);
  ds.get(2, SampleContext{.seed = 9, .epoch = 4, .train = false}, b.data(), &l, nullptr);
  for (int p = 0; p < 3072; p += 17) EXPECT_FLOAT_EQ(b[p], ((2 + p) % 251) / 255.0f);
}

}  // namespace
}  // namespace kiln::data::test
