// The text source (core/data/text.h): UTF-8 decoding, the vocabulary, the split, the sequences
// and their next-character labels, and int32 batches through the DataLoader.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/data/loader.h"
#include "core/data/text.h"
#include "core/error.h"
#include "tests/common/temp_dir.h"

namespace kiln::data {
namespace {

std::u32string u32(const std::string& utf8) { return decode_utf8(utf8); }

TEST(Utf8, DecodesAndEncodesRoundTrip) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  const std::u32string cps = decode_utf8(s);
  EXPECT_EQ(cps, (std::u32string{U'a', U'\u00E9', U'\u20AC', U'\U0001F600', U'z'}));
  EXPECT_EQ(encode_utf8(cps), s);
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  // A lone continuation byte, a truncated sequence at the end, an overlong '/', a surrogate.
  EXPECT_EQ(decode_utf8("x\x80y"), (std::u32string{U'x', 0xFFFD, U'y'}));
  EXPECT_EQ(decode_utf8("x\xE2\x82"), (std::u32string{U'x', 0xFFFD, 0xFFFD}));
  EXPECT_EQ(decode_utf8("\xC0\xAF"), (std::u32string{0xFFFD, 0xFFFD}));
  EXPECT_EQ(decode_utf8("\xED\xA0\x80"), (std::u32string{0xFFFD, 0xFFFD, 0xFFFD}));
}

TEST(Vocabulary, IsSortedByCodePointAndDeterministic) {
  const Vocabulary v = Vocabulary::build(u32("hello, w\xC3\xB6rld"));
  EXPECT_EQ(v.symbols(), (std::vector<char32_t>{U' ', U',', U'd', U'e', U'h', U'l', U'o', U'r', U'w', U'\u00F6'}));
  EXPECT_EQ(v.id(U'h'), 4);
  EXPECT_EQ(v.decode(v.encode(u32("w\xC3\xB6rld"))), "w\xC3\xB6rld");
  EXPECT_EQ(Vocabulary::build(u32("dlr\xC3\xB6w ,olleh")).symbols(), v.symbols());  // order-independent
  EXPECT_THROW(v.id(U'Z'), Error);
  EXPECT_THROW(v.symbol(10), Error);
}

TEST(Vocabulary, MaxVocabKeepsTheMostFrequentAndMapsTheRestToReplacement) {
  // counts: a 5, b 3, c 2, d 1, e 1
  const Vocabulary v = Vocabulary::build(u32("aaaaabbbccde"), 3);
  EXPECT_EQ(v.symbols(), (std::vector<char32_t>{U'a', U'b', 0xFFFD}));
  EXPECT_EQ(v.id(U'c'), 2);
  EXPECT_EQ(v.id(U'e'), 2);
  EXPECT_EQ(v.id(U'a'), 0);
}

TEST(TextDataset, SequencesAndNextCharacterLabels) {
  TextOptions o;
  o.validation = 0.25;
  auto corpus = std::make_shared<const TextCorpus>(u32("abcdefghijklmnop"), "alphabet", o);  // 16 chars
  EXPECT_EQ(corpus->vocabulary().size(), 16);
  EXPECT_EQ(corpus->train_end(), 12);
  TextDataset train(corpus, TextSplit::Train, 3);  // ids 0..11: (12 - 1) / 3 = 3 sequences
  TextDataset valid(corpus, TextSplit::Validation, 3);  // ids 12..15: (4 - 1) / 3 = 1
  EXPECT_EQ(train.size(), 3);
  EXPECT_EQ(valid.size(), 1);
  EXPECT_EQ(train.input_dtype(), DType::I32);
  EXPECT_EQ(train.labels_per_sample(), 3);
  EXPECT_EQ(train.sample_shape(), Shape{3});
  int32_t x[3], y[3];
  train.get_tokens(2, SampleContext{}, x, y);
  EXPECT_EQ((std::vector<int32_t>(x, x + 3)), (std::vector<int32_t>{6, 7, 8}));
  EXPECT_EQ((std::vector<int32_t>(y, y + 3)), (std::vector<int32_t>{7, 8, 9}));
  valid.get_tokens(0, SampleContext{}, x, y);
  EXPECT_EQ((std::vector<int32_t>(x, x + 3)), (std::vector<int32_t>{12, 13, 14}));
  EXPECT_EQ((std::vector<int32_t>(y, y + 3)), (std::vector<int32_t>{13, 14, 15}));
  float f = 0;
  EXPECT_THROW(train.get(0, SampleContext{}, &f, y, nullptr), Error);
  EXPECT_THROW(TextDataset(corpus, TextSplit::Validation, 4), Error);  // 4 ids: no sequence of 4 + 1
}

TEST(TextDataset, UnigramEntropyOfTheTrainingSplit) {
  TextOptions o;
  o.validation = 0;
  const TextCorpus corpus(u32("aabb"), "ab", o);
  EXPECT_NEAR(corpus.unigram_entropy(), std::log(2.0), 1e-12);
  const TextCorpus one(u32("aaaa"), "a", o);
  EXPECT_EQ(one.unigram_entropy(), 0.0);
}

TEST(TextDataset, LoaderBuildsInt32BatchesWithFlatLabelsPerPosition) {
  TextOptions o;
  o.validation = 0;
  std::u32string text;
  for (int i = 0; i < 101; ++i) text += static_cast<char32_t>(U'a' + i % 7);
  auto corpus = std::make_shared<const TextCorpus>(text, "cycle", o);
  auto ds = std::make_shared<TextDataset>(corpus, TextSplit::Train, 10);  // 10 sequences
  DataLoader loader(ds, LoaderOptions{.batch_size = 4, .shuffle = true, .seed = 3, .workers = 2});
  ASSERT_EQ(loader.batches_per_epoch(), 3);
  const Batch b = loader.next();
  ASSERT_EQ(b.x.dtype(), DType::I32);
  EXPECT_EQ(b.x.shape(), (Shape{4, 10}));
  EXPECT_EQ(b.labels.shape(), (Shape{4, 10}));
  const int32_t* x = b.x.data<int32_t>();
  const int32_t* y = b.labels.data<int32_t>();
  for (int i = 0; i < 4; ++i) {
    for (int t = 0; t < 10; ++t) {
      EXPECT_EQ(y[i * 10 + t], (x[i * 10 + t] + 1) % 7) << i << " " << t;  // the cycle's next character
    }
  }
}

TEST(TextCorpus, ReadsFilesAndFoldersSkippingIndexFilesAndLinks) {
  namespace fs = std::filesystem;
  const kiln::testing::TempDir tmp;
  const fs::path& dir = tmp.root();
  std::ofstream(dir / "b.txt") << "world";
  std::ofstream(dir / "a.txt") << "hello ";
  std::ofstream(dir / "a.dat") << "\x01\x02 index";
  fs::create_symlink(dir / "a.txt", dir / "a.u8");
  TextOptions o;
  o.validation = 0;
  const TextCorpus corpus(std::vector<std::string>{dir.string()}, o);
  EXPECT_EQ(corpus.vocabulary().decode(corpus.ids()), "hello world");
  o.max_chars = 4;
  const TextCorpus head(std::vector<std::string>{(dir / "b.txt").string(), (dir / "a.txt").string()}, o);
  EXPECT_EQ(head.vocabulary().decode(head.ids()), "worl");
  EXPECT_THROW(TextCorpus(std::vector<std::string>{(dir / "missing.txt").string()}, o), Error);
}

}  // namespace
}  // namespace kiln::data
