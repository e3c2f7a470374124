// How the DataLoader draws language-model data: the text source laid out in streams for truncated
// back-propagation through time (core/data/text.h, "Streams"), and word sequences in
// length-bucketed batches trimmed to their longest (core/data/words.h, "Bucketing"; loader.h,
// "Planned batches").
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/data/loader.h"
#include "core/data/text.h"
#include "core/data/words.h"
#include "core/error.h"
#include "tests/common/error_of.h"

namespace kiln::data {
namespace {

using ::testing::HasSubstr;
using kiln::testing::error_of;

std::vector<int32_t> ints(const Tensor& t) { return t.to_host_i32(); }

// A text of n distinct characters in code point order, so that id == position in the text.
std::shared_ptr<const TextCorpus> counting_corpus(int n, double validation = 0) {
  std::u32string text;
  for (int i = 0; i < n; ++i) text += static_cast<char32_t>(0x100 + i);
  TextOptions o;
  o.validation = validation;
  return std::make_shared<const TextCorpus>(text, "counting", o);
}

TEST(TextStreams, SampleIIsChunkIOverSOfStreamIModS) {
  auto corpus = counting_corpus(200);
  const TextDataset ds(corpus, TextSplit::Train, 4, 3);  // streams of 66 ids: (66 - 1) / 4 = 16 chunks
  EXPECT_EQ(ds.streams(), 3);
  ASSERT_EQ(ds.size(), 48);
  int32_t x[4], y[4];
  for (int64_t i = 0; i < ds.size(); ++i) {
    ds.get_tokens(i, SampleContext{}, x, y);
    const int32_t first = static_cast<int32_t>(i % 3 * 66 + i / 3 * 4);
    EXPECT_EQ((std::vector<int32_t>(x, x + 4)), (std::vector<int32_t>{first, first + 1, first + 2, first + 3})) << i;
    EXPECT_EQ((std::vector<int32_t>(y, y + 4)), (std::vector<int32_t>{first + 1, first + 2, first + 3, first + 4}));
  }
  // The last chunk of a stream stays inside it (its last label is the stream's last id or before).
  ds.get_tokens(47, SampleContext{}, x, y);
  EXPECT_LE(y[3], 3 * 66 - 1);
  EXPECT_THAT(ds.describe(), HasSubstr("in 3 streams"));
}

TEST(TextStreams, OneStreamIsTheDefaultLayoutAndValidationHasItsOwnStreams) {
  auto corpus = counting_corpus(200, 0.25);  // 150 training ids, 50 validation ids
  const TextDataset plain(corpus, TextSplit::Train, 8), one(corpus, TextSplit::Train, 8, 1);
  ASSERT_EQ(plain.size(), one.size());
  EXPECT_EQ(plain.streams(), 0);
  int32_t a[8], b[8], ya[8], yb[8];
  for (int64_t i = 0; i < plain.size(); ++i) {
    plain.get_tokens(i, SampleContext{}, a, ya);
    one.get_tokens(i, SampleContext{}, b, yb);
    EXPECT_EQ(0, std::memcmp(a, b, sizeof a));
    EXPECT_EQ(0, std::memcmp(ya, yb, sizeof ya));
  }
  const TextDataset valid(corpus, TextSplit::Validation, 8, 2);  // streams of 25: 3 chunks each
  ASSERT_EQ(valid.size(), 6);
  valid.get_tokens(3, SampleContext{}, a, ya);  // chunk 1 of stream 1
  EXPECT_EQ(a[0], 150 + 25 + 8);
}

TEST(TextStreams, ABatchThatDoesNotFitIsOneClearError) {
  auto corpus = counting_corpus(200);
  EXPECT_EQ(TextDataset::max_streams(200, 4), 40);
  EXPECT_EQ(TextDataset(corpus, TextSplit::Train, 4, 40).size(), 40);  // streams of 5: one chunk each
  const std::string e = error_of([&] { TextDataset(corpus, TextSplit::Train, 4, 41); });
  EXPECT_THAT(e, HasSubstr("200 characters"));
  EXPECT_THAT(e, HasSubstr("41 stream(s)"));
  EXPECT_THAT(e, HasSubstr("at most 40"));
}

TEST(TextStreams, LoaderDrawsInOrderNeverShufflesAndRowsContinue) {
  auto ds = std::make_shared<TextDataset>(counting_corpus(200), TextSplit::Train, 4, 3);
  for (int workers : {0, 2}) {
    SCOPED_TRACE(workers);
    DataLoader loader(ds, LoaderOptions{.batch_size = 3, .shuffle = true, .seed = 9, .workers = workers});
    EXPECT_FALSE(loader.options().shuffle);
    ASSERT_EQ(loader.batches_per_epoch(), 16);
    EXPECT_EQ(loader.order(1), identity_order(48));
    std::vector<int32_t> last_labels;
    for (int b = 0; b < 2 * 16; ++b) {
      const Batch batch = loader.next();
      ASSERT_EQ(batch.x.shape(), (Shape{3, 4}));
      const std::vector<int32_t> x = ints(batch.x), y = ints(batch.labels);
      for (int s = 0; s < 3; ++s) {
        for (int t = 0; t < 4; ++t) EXPECT_EQ(y[s * 4 + t], x[s * 4 + t] + 1);  // labels: the next id
        if (b % 16 == 0) EXPECT_EQ(x[s * 4], s * 66) << "epoch " << b / 16 << " starts every stream anew";
        else EXPECT_EQ(x[s * 4], last_labels[s * 4 + 3]) << "batch " << b << " row " << s;
      }
      last_labels = y;
    }
  }
  const std::string e = error_of([&] { DataLoader(ds, LoaderOptions{.batch_size = 4}); });
  EXPECT_THAT(e, HasSubstr("laid out in 3 streams: its batch size must be 3, not 4"));
}

// ---------------------------------------------------------------------------------------------

// 203 lines of 1 to 13 words ("w0 w1 ..."), seq_len 10: the longer lines are cut into two pieces.
std::shared_ptr<const WordCorpus> ragged_corpus(bool bucket) {
  std::string text;
  for (int i = 0; i < 203; ++i) {
    for (int k = 0; k <= (i * 7) % 13; ++k) text += fmt::format("w{} ", (i + k) % 9);
    text += "\n";
  }
  WordOptions o;
  o.validation = 0;
  o.seq_len = 10;
  o.bucket = bucket;
  return std::make_shared<const WordCorpus>(decode_utf8(text), "ragged", o);
}

std::vector<uint8_t> bytes_of(const Batch& b) {
  std::vector<uint8_t> out(b.x.nbytes() + b.labels.nbytes());
  std::memcpy(out.data(), b.x.raw_data(), b.x.nbytes());
  std::memcpy(out.data() + b.x.nbytes(), b.labels.raw_data(), b.labels.nbytes());
  return out;
}

// Every batch of `epochs` epochs, as bytes.
std::vector<std::vector<uint8_t>> all_batches(DataLoader& loader, int64_t epochs) {
  std::vector<std::vector<uint8_t>> out;
  for (int64_t i = 0; i < epochs * loader.batches_per_epoch(); ++i) out.push_back(bytes_of(loader.next()));
  return out;
}

TEST(Bucketing, EverySampleOnceInTrimmedBatchesOfSimilarLengths) {
  auto ds = std::make_shared<WordDataset>(ragged_corpus(true), TextSplit::Train);
  const int64_t n = ds->size(), T = 10;
  ASSERT_GT(n, 203);  // some lines made two pieces
  DataLoader loader(ds, LoaderOptions{.batch_size = 8, .shuffle = true, .seed = 4});
  ASSERT_EQ(loader.batches_per_epoch(), (n + 7) / 8);
  const std::vector<int64_t> order = loader.order(0);
  ASSERT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), static_cast<size_t>(n));
  int64_t offset = 0, trimmed = 0, spread = 0;
  std::vector<int32_t> full_x(T), full_y(T);
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const Batch batch = loader.next();
    const int64_t N = batch.size(), steps = batch.x.dim(1);
    ASSERT_EQ(batch.labels.shape(), (Shape{N, steps}));
    ASSERT_LE(steps, T);
    trimmed += steps < T;
    const std::vector<int32_t> x = ints(batch.x), y = ints(batch.labels);
    int64_t longest = 0, shortest = T;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t index = order[static_cast<size_t>(offset + i)];  // rows follow order()
      longest = std::max(longest, ds->sequence_length(index));
      shortest = std::min(shortest, ds->sequence_length(index));
      ds->get_tokens(index, SampleContext{}, full_x.data(), full_y.data());
      for (int64_t t = 0; t < steps; ++t) {
        EXPECT_EQ(x[i * steps + t], full_x[t]);
        EXPECT_EQ(y[i * steps + t], full_y[t]);
      }
    }
    EXPECT_EQ(steps, longest) << "batch " << b << " is trimmed to its longest sequence";
    spread += longest - shortest;
    offset += N;
  }
  EXPECT_EQ(offset, n);
  EXPECT_GT(trimmed, loader.batches_per_epoch() / 2);
  EXPECT_LT(spread, loader.batches_per_epoch());  // mostly one length per batch
  EXPECT_EQ(loader.position(), (Position{1, 0}));
}

TEST(Bucketing, DeterministicPerSeedAndEpochWhateverTheWorkers) {
  auto ds = std::make_shared<WordDataset>(ragged_corpus(true), TextSplit::Train);
  std::vector<std::vector<uint8_t>> reference;
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(workers);
    DataLoader loader(ds, LoaderOptions{.batch_size = 8, .seed = 21, .workers = workers, .prefetch = 3});
    const auto got = all_batches(loader, 2);
    if (reference.empty()) reference = got;
    else EXPECT_TRUE(got == reference);
  }
  const int64_t per_epoch = static_cast<int64_t>(reference.size()) / 2;
  const std::vector<std::vector<uint8_t>> epoch0(reference.begin(), reference.begin() + per_epoch),
      epoch1(reference.begin() + per_epoch, reference.end());
  EXPECT_NE(epoch0, epoch1);
  DataLoader other_seed(ds, LoaderOptions{.batch_size = 8, .seed = 22});
  EXPECT_NE(all_batches(other_seed, 1), epoch0);
}

TEST(Bucketing, SeekAndLoadGiveTheSameBatches) {
  auto ds = std::make_shared<WordDataset>(ragged_corpus(true), TextSplit::Train);
  const LoaderOptions opt{.batch_size = 8, .drop_last = true, .seed = 5, .workers = 2};
  DataLoader straight(ds, opt);
  const int64_t per_epoch = straight.batches_per_epoch();
  ASSERT_EQ(per_epoch, ds->size() / 8);
  const auto all = all_batches(straight, 3);
  for (const auto& b : all) EXPECT_EQ(b.size() % (8 * sizeof(int32_t)), 0u) << "drop_last: every batch full";
  const Position saved{1, per_epoch / 2};
  for (int workers : {0, 2}) {
    LoaderOptions o = opt;
    o.workers = workers;
    DataLoader resumed(ds, o);
    resumed.next();
    resumed.seek(saved);
    const int64_t first = per_epoch + per_epoch / 2;
    for (int64_t i = first; i < 3 * per_epoch; ++i) EXPECT_EQ(bytes_of(resumed.next()), all[i]) << "batch " << i;
  }
  DataLoader direct(ds, opt);
  EXPECT_EQ(bytes_of(direct.load(Position{2, 3})), all[2 * per_epoch + 3]);
}

TEST(Bucketing, EvaluationOrderIsSortedByLengthAndOffWithoutBucket) {
  auto ds = std::make_shared<WordDataset>(ragged_corpus(true), TextSplit::Train);
  DataLoader eval(ds, LoaderOptions{.batch_size = 16, .shuffle = false, .train = false});
  int64_t previous = 0;
  for (int64_t b = 0; b < eval.batches_per_epoch(); ++b) {
    const Batch batch = eval.next();
    EXPECT_GE(batch.x.dim(1), previous);
    previous = batch.x.dim(1);
  }
  EXPECT_EQ(eval.order(0), eval.order(1));
  EXPECT_EQ(ds->sequence_length(eval.order(0).front()), 1);

  auto plain = std::make_shared<WordDataset>(ragged_corpus(false), TextSplit::Train);
  EXPECT_TRUE(plain->batch_plan(8, 1, 0, true).empty());
  DataLoader loader(plain, LoaderOptions{.batch_size = 8, .seed = 4});
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) EXPECT_EQ(loader.next().x.dim(1), 10);
}

// A dataset whose plan breaks the contract (a sample twice).
class BadPlan final : public Dataset {
 public:
  int64_t size() const override { return 4; }
  Shape sample_shape() const override { return Shape{2}; }
  int num_classes() const override { return 2; }
  std::string describe() const override { return "bad plan"; }
  void get(int64_t, const SampleContext&, float* x, int32_t* label, float*) const override {
    x[0] = x[1] = 0;
    *label = 0;
  }
  std::vector<std::vector<int64_t>> batch_plan(int64_t, uint64_t, int64_t, bool) const override {
    return {{0, 1}, {1, 2}};
  }
};

TEST(Bucketing, APlanThatBreaksTheContractIsAClearError) {
  DataLoader loader(std::make_shared<BadPlan>(), LoaderOptions{.batch_size = 2});
  EXPECT_THAT(error_of([&] { loader.next(); }), HasSubstr("bad plan planned sample 1 twice or out of range"));
}

}  // namespace
}  // namespace kiln::data
