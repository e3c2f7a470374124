#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "tests/data/fixtures.h"

namespace kiln::data::test {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Dataset> synthetic(int64_t n, Shape shape = {3, 4, 5}, int classes = 7) {
  return std::make_shared<SyntheticDataset>(
      SyntheticOptions{.size = n, .sample_shape = shape, .num_classes = classes, .seed = 11});
}

// Bytes of a batch, for exact comparisons.
std::vector<uint8_t> bytes_of(const Batch& b) {
  std::vector<uint8_t> out(b.x.nbytes() + (b.labels.defined() ? b.labels.nbytes() : 0));
  std::memcpy(out.data(), b.x.raw_data(), b.x.nbytes());
  if (b.labels.defined()) std::memcpy(out.data() + b.x.nbytes(), b.labels.raw_data(), b.labels.nbytes());
  return out;
}

TEST(Shuffle, IsAPermutationFixedBySeedAndEpoch) {
  const auto a = shuffled_order(1000, 42, 3);
  EXPECT_EQ(a, shuffled_order(1000, 42, 3));
  EXPECT_NE(a, shuffled_order(1000, 42, 4));
  EXPECT_NE(a, shuffled_order(1000, 43, 3));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  // Pinned values: the order must never change across machines or versions (resumed runs).
  const auto small = shuffled_order(10, 0, 0);
  EXPECT_EQ(small, (std::vector<int64_t>{0, 1, 6, 7, 4, 8, 9, 3, 5, 2}));
}

TEST(Shuffle, FirstPositionIsRoughlyUniform) {
  std::vector<int> hits(10, 0);
  for (int e = 0; e < 2000; ++e) hits[shuffled_order(10, 1, e)[0]]++;
  for (int h : hits) EXPECT_NEAR(h, 200, 60);
}

TEST(Loader, BatchesCoverTheEpochWithAPartialLastBatch) {
  DataLoader loader(synthetic(10), LoaderOptions{.batch_size = 4, .seed = 1});
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  EXPECT_EQ(loader.samples_per_epoch(), 10);
  std::vector<int32_t> labels;
  std::vector<int64_t> sizes;
  for (int b = 0; b < 3; ++b) {
    Batch batch = loader.next();
    EXPECT_EQ(batch.position, (Position{0, b}));
    EXPECT_EQ(batch.last_in_epoch, b == 2);
    EXPECT_EQ(batch.x.shape()[0], batch.size());
    EXPECT_EQ(batch.x.rank(), 4);
    EXPECT_EQ(batch.labels.dtype(), DType::I32);
    sizes.push_back(batch.size());
    for (int32_t l : batch.labels.to_host_i32()) labels.push_back(l);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(loader.position(), (Position{1, 0}));
  // Labels are index % 7 in the epoch's order.
  const auto order = loader.order(0);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(labels[i], order[i] % 7);
}

TEST(Loader, DropLast) {
  DataLoader loader(synthetic(10), LoaderOptions{.batch_size = 4, .drop_last = true});
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  EXPECT_EQ(loader.samples_per_epoch(), 8);
  loader.next();
  EXPECT_TRUE(loader.next().last_in_epoch);
  EXPECT_EQ(loader.next().position, (Position{1, 0}));
  EXPECT_THAT(error_of([] { DataLoader(synthetic(3), LoaderOptions{.batch_size = 4, .drop_last = true}); }),
              HasSubstr("fewer than one batch of 4"));
}

TEST(Loader, NoShuffleKeepsFileOrder) {
  DataLoader loader(synthetic(6), LoaderOptions{.batch_size = 6, .shuffle = false});
  EXPECT_EQ(loader.next().labels.to_host_i32(), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
}

TEST(Loader, SameBatchesWhateverTheWorkerCount) {
  TempDir dir;
  // A source with augmentation, so per-sample randomness is exercised too.
  std::vector<uint8_t> rec;
  for (int i = 0; i < 37; ++i) {
    rec.push_back(static_cast<uint8_t>(i % 10));
    for (int p = 0; p < 3072; ++p) rec.push_back(static_cast<uint8_t>((i * 13 + p * 7) % 256));
  }
  write_file(dir.path("b.bin"), rec);
  auto ds = std::make_shared<CifarDataset>(
      std::vector<std::string>{dir.path("b.bin")},
      CifarOptions{.augment = {.pad = 4, .crop = 28, .random_crop = true, .hflip = true}});
  std::vector<std::vector<uint8_t>> reference;
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(workers);
    DataLoader loader(ds, LoaderOptions{.batch_size = 8, .seed = 77, .workers = workers, .prefetch = 3});
    std::vector<std::vector<uint8_t>> got;
    for (int i = 0; i < 2 * loader.batches_per_epoch() + 1; ++i) got.push_back(bytes_of(loader.next()));
    if (reference.empty()) reference = got;
    else EXPECT_TRUE(got == reference);
  }
  // Batches differ between epochs (new order, new augmentation).
  EXPECT_NE(reference[0], reference[5]);
}

TEST(Loader, ResumeFromASavedPosition) {
  auto ds = synthetic(50);
  const LoaderOptions opt{.batch_size = 8, .seed = 5, .workers = 2};
  DataLoader straight(ds, opt);
  std::vector<std::vector<uint8_t>> all;
  Position saved;
  for (int i = 0; i < 20; ++i) {
    if (i == 9) saved = straight.position();
    all.push_back(bytes_of(straight.next()));
  }
  EXPECT_EQ(saved, (Position{1, 2}));
  for (int workers : {0, 2}) {
    LoaderOptions o = opt;
    o.workers = workers;
    DataLoader resumed(ds, o);
    resumed.next();  // some batches built ahead before the seek, discarded by it
    resumed.seek(saved);
    EXPECT_EQ(resumed.position(), saved);
    for (int i = 9; i < 20; ++i) EXPECT_EQ(bytes_of(resumed.next()), all[i]) << "batch " << i;
  }
  DataLoader direct(ds, opt);
  EXPECT_EQ(bytes_of(direct.load(Position{2, 0})), all[14]);
  EXPECT_THAT(error_of([&] { direct.seek(Position{0, 7}); }), HasSubstr("7 batches per epoch"));
}

// Data-parallel shards: the R ranks' rows of every batch, concatenated in rank order, are the
// single-process batch byte for byte (a partial last batch of 10 = 4 + 4 + 2 split unevenly).
TEST(Loader, ShardsOfABatchConcatenateToTheWholeBatch) {
  for (const int shards : {2, 3}) {
    DataLoader whole(synthetic(10), LoaderOptions{.batch_size = 4, .seed = 5});
    std::vector<std::unique_ptr<DataLoader>> parts;
    for (int r = 0; r < shards; ++r) {
      parts.push_back(std::make_unique<DataLoader>(
          synthetic(10), LoaderOptions{.batch_size = 4, .seed = 5, .workers = r % 2, .shard = r, .shards = shards}));
    }
    for (int step = 0; step < 2 * whole.batches_per_epoch(); ++step) {
      const Batch all = whole.next();
      std::vector<uint8_t> x, y;
      int64_t rows = 0;
      for (int r = 0; r < shards; ++r) {
        const Batch b = parts[static_cast<size_t>(r)]->next();
        EXPECT_EQ(b.position, all.position);
        EXPECT_EQ(b.first_sample, rows) << "shard " << r << " of " << shards;
        EXPECT_EQ(b.global_size, all.size());
        rows += b.size();
        const auto* bx = static_cast<const uint8_t*>(b.x.raw_data());
        const auto* by = static_cast<const uint8_t*>(b.labels.raw_data());
        x.insert(x.end(), bx, bx + b.x.nbytes());
        y.insert(y.end(), by, by + b.labels.nbytes());
      }
      EXPECT_EQ(rows, all.size());
      std::vector<uint8_t> joined = x;
      joined.insert(joined.end(), y.begin(), y.end());
      EXPECT_EQ(joined, bytes_of(all)) << "step " << step << ", " << shards << " shards";
    }
  }
  EXPECT_THROW(DataLoader(synthetic(10), LoaderOptions{.shard = 2, .shards = 2}), Error);
}

TEST(Loader, SeekWhileWorkersAreBlockedAndDestroyMidStream) {
  auto ds = synthetic(100, {16});
  DataLoader loader(ds, LoaderOptions{.batch_size = 3, .workers = 3, .prefetch = 2});
  for (int i = 0; i < 5; ++i) loader.next();
  loader.seek(Position{3, 4});
  EXPECT_EQ(loader.next().position, (Position{3, 4}));
  // Destructor with workers waiting on a full queue must not hang.
}

TEST(Synthetic, ValuesAreFixedPerSampleAndInRange) {
  SyntheticDataset ds(SyntheticOptions{.size = 5, .sample_shape = {2, 3}, .num_classes = 3, .seed = 1});
  float a[6], b[6];
  int32_t l;
  ds.get(4, SampleContext{.epoch = 0}, a, &l, nullptr);
  ds.get(4, SampleContext{.epoch = 9}, b, &l, nullptr);
  EXPECT_EQ(std::vector<float>(a, a + 6), std::vector<float>(b, b + 6));
  EXPECT_EQ(l, 1);
  for (float v : a) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
  ds.get(3, SampleContext{}, b, &l, nullptr);
  EXPECT_NE(std::vector<float>(a, a + 6), std::vector<float>(b, b + 6));
  SyntheticDataset reg(SyntheticOptions{.size = 4, .sample_shape = {5}, .target_dim = 2});
  EXPECT_EQ(reg.task(), Task::Regression);
  DataLoader loader(std::make_shared<SyntheticDataset>(reg), LoaderOptions{.batch_size = 4});
  EXPECT_EQ(loader.next().targets.shape(), (Shape{4, 2}));
}

TEST(Subset, Range) {
  auto ds = subset(synthetic(20), 5, 15);
  EXPECT_EQ(ds->size(), 10);
  DataLoader loader(ds, LoaderOptions{.batch_size = 10, .shuffle = false});
  EXPECT_EQ(loader.next().labels.to_host_i32(), (std::vector<int32_t>{5, 6, 0, 1, 2, 3, 4, 5, 6, 0}));
  EXPECT_THAT(error_of([] { subset(synthetic(20), 5, 25); }), HasSubstr("out of range"));
}

}  // namespace
}  // namespace kiln::data::test
