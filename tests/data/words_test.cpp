// The word source (core/data/words.h): tokenisation, the top-K vocabulary with <unk>, sequences
// per line or sentence, padding with masked labels, the length-bucketed batch order, and int32
// batches through the DataLoader.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/data/loader.h"
#include "core/data/words.h"
#include "core/error.h"

namespace kiln::data {
namespace {

std::u32string u32(const std::string& utf8) { return decode_utf8(utf8); }
using Words = std::vector<std::string>;

TEST(Words, TokenisesWordsAndPunctuation) {
  EXPECT_EQ(tokenize_words(u32("Hello, World! Don't  panic--42 times."), true),
            (Words{"hello", ",", "world", "!", "don't", "panic", "-", "-", "42", "times", "."}));
  EXPECT_EQ(tokenize_words(u32("Hello, World!"), false), (Words{"Hello", ",", "World", "!"}));
  // Non-ASCII letters stay inside words; a curly apostrophe becomes '; quotes are tokens.
  EXPECT_EQ(tokenize_words(u32("\"Caf\xC3\xA9 it\xE2\x80\x99s\" 'x"), true),
            (Words{"\"", "caf\xC3\xA9", "it's", "\"", "'", "x"}));
  EXPECT_TRUE(tokenize_words(u32(" \t\n "), true).empty());
}

TEST(Words, VocabularyIsTheTopKWithAlphabeticalTiesAndUnk) {
  // counts: the 4, cat 2, dog 2, ant 2, bee 1
  const Words words = {"the", "cat", "the", "dog", "ant", "the", "bee", "dog", "cat", "the", "ant"};
  const WordVocabulary v = WordVocabulary::build(words, 6);  // <pad> <unk> <eos> + 3 words
  EXPECT_EQ(v.words(), (Words{"<pad>", "<unk>", "<eos>", "the", "ant", "cat"}));
  EXPECT_EQ(v.id("the"), 3);
  EXPECT_EQ(v.id("dog"), WordVocabulary::kUnk);
  EXPECT_EQ(v.id("zebra"), WordVocabulary::kUnk);
  Words reversed(words.rbegin(), words.rend());
  EXPECT_EQ(WordVocabulary::build(reversed, 6).words(), v.words());  // order-independent
  EXPECT_EQ(WordVocabulary::build(words, 100).size(), 3 + 5);
  EXPECT_THROW(WordVocabulary::build(words, 3), Error);
  EXPECT_THROW(v.word(6), Error);
}

TEST(Words, LinesPaddedWithMaskedLabelsAndLongLinesCutIntoPieces) {
  WordOptions o;
  o.validation = 0;
  o.seq_len = 4;
  o.max_vocab = 100;
  // Line 2 has 6 tokens, 7 inputs with the leading <eos>: pieces of 4 and 3 inputs. The "%" line
  // and the blank line are dropped.
  auto corpus = std::make_shared<const WordCorpus>(u32("a b.\n%\n\nc d e f g h\n"), "t", o);
  EXPECT_EQ(corpus->pieces(), 3);
  WordDataset ds(corpus, TextSplit::Train);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.sample_shape(), Shape{4});
  EXPECT_EQ(ds.labels_per_sample(), 4);
  EXPECT_EQ(ds.input_dtype(), DType::I32);
  const WordVocabulary& v = corpus->vocabulary();
  auto id = [&](const char* w) { return v.id(w); };
  const int32_t pad = WordVocabulary::kPad, eos = WordVocabulary::kEos;
  int32_t x[4], y[4];
  ds.get_tokens(0, SampleContext{}, x, y);  // <eos> "a b ." -> "a b ." <eos>
  EXPECT_EQ((std::vector<int32_t>(x, x + 4)), (std::vector<int32_t>{eos, id("a"), id("b"), id(".")}));
  EXPECT_EQ((std::vector<int32_t>(y, y + 4)), (std::vector<int32_t>{id("a"), id("b"), id("."), eos}));
  EXPECT_EQ(ds.sequence_length(0), 4);
  ds.get_tokens(1, SampleContext{}, x, y);  // <eos> "c d e", labels continue into the next piece
  EXPECT_EQ((std::vector<int32_t>(x, x + 4)), (std::vector<int32_t>{eos, id("c"), id("d"), id("e")}));
  EXPECT_EQ((std::vector<int32_t>(y, y + 4)), (std::vector<int32_t>{id("c"), id("d"), id("e"), id("f")}));
  ds.get_tokens(2, SampleContext{}, x, y);  // "f g h" -> "g h" <eos>
  EXPECT_EQ((std::vector<int32_t>(x, x + 4)), (std::vector<int32_t>{id("f"), id("g"), id("h"), pad}));
  EXPECT_EQ((std::vector<int32_t>(y, y + 4)), (std::vector<int32_t>{id("g"), id("h"), eos, kIgnoreLabel}));
  float f = 0;
  EXPECT_THROW(ds.get(0, SampleContext{}, &f, y, nullptr), Error);
}

TEST(Words, SentencesSplitAtStopsAndParagraphs) {
  WordOptions o;
  o.validation = 0;
  o.seq_len = 16;
  o.split = WordSplit::Sentences;
  const WordCorpus corpus(u32("One two. Three\nfour! Five\n\nsix\n"), "t", o);
  ASSERT_EQ(corpus.pieces(), 4);  // "one two ." "three four !" "five" "six"
  EXPECT_EQ(corpus.length(0), 4);  // <eos> one two .
  EXPECT_EQ(corpus.length(1), 4);
  EXPECT_EQ(corpus.length(2), 2);
  EXPECT_EQ(corpus.length(3), 2);
}

TEST(Words, ValidationIsTheTailAndTheVocabularyComesFromTraining) {
  WordOptions o;
  o.validation = 0.25;
  o.seq_len = 8;
  o.max_vocab = 100;
  const auto corpus = std::make_shared<const WordCorpus>(u32("a b\nb c\na c\nzebra a\n"), "t", o);
  EXPECT_EQ(corpus->train_pieces(), 3);
  EXPECT_EQ(corpus->vocabulary().id("zebra"), WordVocabulary::kUnk);  // only in validation
  WordDataset valid(corpus, TextSplit::Validation);
  ASSERT_EQ(valid.size(), 1);
  int32_t x[8], y[8];
  valid.get_tokens(0, SampleContext{}, x, y);
  EXPECT_EQ(x[0], WordVocabulary::kEos);
  EXPECT_EQ(x[1], WordVocabulary::kUnk);
  EXPECT_EQ(corpus->unknown_rate(), 0.0);
  // Training labels: a b <eos> b c <eos> a c <eos> → p(<eos>) = 1/3, p(a) = p(b) = p(c) = 2/9.
  EXPECT_NEAR(corpus->unigram_entropy(), -(std::log(1 / 3.0) / 3 + 3 * (2 / 9.0) * std::log(2 / 9.0)), 1e-12);
}

TEST(Words, BucketedBatchesHaveSimilarLengthsCoverEverySampleOnceAndAreDeterministic) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 1000; ++i) lengths.push_back(1 + (i * 37) % 30);  // 1..30
  const int64_t batch = 8;
  const auto a = bucketed_batches(lengths, batch, 7, 0);
  ASSERT_EQ(a.size(), 125u);
  std::set<int64_t> seen;
  double spread = 0;
  for (const auto& b : a) {
    ASSERT_FALSE(b.empty());
    EXPECT_LE(static_cast<int64_t>(b.size()), batch);
    int64_t lo = 1000, hi = 0;
    for (int64_t i : b) {
      EXPECT_TRUE(seen.insert(i).second) << i;
      lo = std::min(lo, lengths[static_cast<size_t>(i)]);
      hi = std::max(hi, lengths[static_cast<size_t>(i)]);
    }
    EXPECT_LE(hi - lo, 2) << "a batch mixes lengths " << lo << " and " << hi;
    spread += static_cast<double>(hi - lo);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_LT(spread / static_cast<double>(a.size()), 1.0);
  EXPECT_EQ(bucketed_batches(lengths, batch, 7, 0), a);
  EXPECT_NE(bucketed_batches(lengths, batch, 8, 0), a);
  EXPECT_NE(bucketed_batches(lengths, batch, 7, 1), a);
  // Consecutive batches are not sorted by length (the batch order is shuffled too).
  int64_t increasing = 0;
  for (size_t k = 1; k < a.size(); ++k) {
    increasing += lengths[static_cast<size_t>(a[k][0])] >= lengths[static_cast<size_t>(a[k - 1][0])];
  }
  EXPECT_LT(increasing, 110);
}

TEST(Words, LoaderBuildsInt32BatchesWithMaskedPadding) {
  WordOptions o;
  o.validation = 0;
  o.seq_len = 6;
  o.bucket = false;  // every batch (N, T); bucketed batches: text_streams_bucketing_test.cpp
  std::string text;
  for (int i = 0; i < 40; ++i) {
    for (int k = 0; k <= i % 5; ++k) text += fmt::format("w{} ", k);
    text += "\n";
  }
  auto corpus = std::make_shared<const WordCorpus>(u32(text), "t", o);
  auto ds = std::make_shared<WordDataset>(corpus, TextSplit::Train);
  ASSERT_EQ(ds->size(), 40);
  DataLoader loader(ds, LoaderOptions{.batch_size = 8, .shuffle = true, .seed = 3, .workers = 2});
  for (int b = 0; b < 5; ++b) {
    const Batch batch = loader.next();
    ASSERT_EQ(batch.x.dtype(), DType::I32);
    ASSERT_EQ(batch.x.shape(), (Shape{8, 6}));
    const int32_t* x = batch.x.data<int32_t>();
    const int32_t* y = batch.labels.data<int32_t>();
    for (int i = 0; i < 8; ++i) {
      for (int t = 0; t < 6; ++t) {
        const bool padded = x[i * 6 + t] == WordVocabulary::kPad;
        EXPECT_EQ(padded, y[i * 6 + t] == kIgnoreLabel) << i << " " << t;  // masked exactly where padded
      }
    }
  }
}

}  // namespace
}  // namespace kiln::data
