// Sequence-to-sequence pairs (core/data/pairs.h): the TSV, the vocabularies, the sample layout
// (left-padded sources, <bos> y / y <eos> decoder sides, ignored padding), the DataLoader's
// trimmed pairs batches and their bucketing, and bad lines named by file and line.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/data/loader.h"
#include "core/data/pairs.h"
#include "tests/common/error_of.h"

namespace kiln::data {
namespace {

using kiln::testing::error_of;
using V = PairVocabulary;

PairsOptions characters() {
  PairsOptions o;
  o.validation = 0;
  return o;
}

std::shared_ptr<const PairsCorpus> corpus(const std::string& train, const std::string& test = "",
                                          PairsOptions o = characters()) {
  return std::make_shared<const PairsCorpus>(train, test, "mem.tsv", o);
}

std::string decoded(const PairVocabulary& v, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) out += id < 0 ? "_" : v.tokens()[static_cast<size_t>(id)];
  return out;
}

TEST(Pairs, VocabularyHasTheSpecialsFirstThenTokensByCountThenBytes) {
  const auto c = corpus("ab\tba\nbb\tb\n");  // b: 6, a: 2
  const V& v = c->target_vocabulary();
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<pad>", "<unk>", "<bos>", "<eos>", "b", "a"}));
  EXPECT_EQ(v.id("z"), V::kUnk);
  EXPECT_EQ(&c->source_vocabulary(), &c->target_vocabulary());  // shared by default
}

TEST(Pairs, SampleIsALeftPaddedSourceAndTeacherForcedTargets) {
  const auto c = corpus("abc\txy\nd\txyz\n");
  const PairsDataset train(c, PairsSplit::Train);
  ASSERT_EQ(train.size(), 2);
  EXPECT_EQ(train.sample_shape(), (Shape{3}));  // the longest source
  EXPECT_EQ(train.decoder_length(), 4);         // the longest target + <eos>
  std::vector<int32_t> src(3), dec(4), lab(4);
  train.get_pair(1, src.data(), dec.data(), lab.data());
  const V& v = c->target_vocabulary();
  EXPECT_EQ(src, (std::vector<int32_t>{V::kPad, V::kPad, v.id("d")}));
  EXPECT_EQ(dec, (std::vector<int32_t>{V::kBos, v.id("x"), v.id("y"), v.id("z")}));
  EXPECT_EQ(lab, (std::vector<int32_t>{v.id("x"), v.id("y"), v.id("z"), V::kEos}));
  train.get_pair(0, src.data(), dec.data(), lab.data());
  EXPECT_EQ(dec, (std::vector<int32_t>{V::kBos, v.id("x"), v.id("y"), V::kPad}));
  EXPECT_EQ(lab, (std::vector<int32_t>{v.id("x"), v.id("y"), V::kEos, kIgnoreLabel}));
  EXPECT_EQ(train.sequence_length(0), 3);
  EXPECT_EQ(train.target_length(0), 3);
}

TEST(Pairs, ReversedSourceAndTwoVocabulariesAndWords) {
  PairsOptions o = characters();
  o.reverse_source = true;
  o.shared_vocabulary = false;
  const auto c = corpus("abc\txx\n", "", o);
  EXPECT_EQ(c->source_vocabulary().size(), 7);  // 4 specials + a b c
  EXPECT_EQ(c->target_vocabulary().size(), 5);  // 4 specials + x
  const PairsDataset train(c, PairsSplit::Train);
  std::vector<int32_t> src(3), dec(3), lab(3);
  train.get_pair(0, src.data(), dec.data(), lab.data());
  EXPECT_EQ(decoded(c->source_vocabulary(), src), "cba");
  const auto v = train.token_vocabulary();
  EXPECT_EQ(v.kind, "pairs");
  EXPECT_EQ(v.tokenizer, "characters");
  EXPECT_EQ(v.source_tokens, c->source_vocabulary().tokens());

  PairsOptions w = characters();
  w.tokens = PairTokens::Words;
  w.lower_case = true;
  const auto cw = corpus("The cat sat.\tle chat\n", "", w);
  EXPECT_EQ(cw->source_steps(), 4);  // the, cat, sat, "."
  EXPECT_EQ(cw->target_vocabulary().decode({V::kBos, cw->target_vocabulary().id("le"), cw->target_vocabulary().id("chat"),
                                            V::kEos, cw->target_vocabulary().id("le")},
                                           " "),
            "le chat");
}

TEST(Pairs, TestFileOrValidationFractionAndLongPairsLeftOut) {
  const auto c = corpus("a\tb\nc\td\n", "e\tf\n");
  EXPECT_EQ(PairsDataset(c, PairsSplit::Train).size(), 2);
  EXPECT_EQ(PairsDataset(c, PairsSplit::Test).size(), 1);
  std::vector<int32_t> src(1), dec(2), lab(2);
  PairsDataset(c, PairsSplit::Test).get_pair(0, src.data(), dec.data(), lab.data());
  EXPECT_EQ(src[0], V::kUnk);  // "e" is not in the training pairs' vocabulary

  PairsOptions o = characters();
  o.validation = 0.25;
  o.max_length = 2;
  const auto v = corpus("long\tx\na\tb\nc\td\ne\tf\ng\th\n", "", o);  // the last line tests
  EXPECT_EQ(v->skipped(), 1);
  EXPECT_EQ(PairsDataset(v, PairsSplit::Train).size(), 3);
  EXPECT_EQ(PairsDataset(v, PairsSplit::Test).size(), 1);
  EXPECT_EQ(PairsDataset(v, PairsSplit::Train).sample_shape(), (Shape{2}));  // max_length fixes it
  EXPECT_EQ(PairsDataset(v, PairsSplit::Train).decoder_length(), 3);
}

TEST(Pairs, BadLinesAreNamedByFileAndLine) {
  EXPECT_EQ(error_of([] { corpus("a\tb\n\nno tab here\n"); }), "mem.tsv:3: no tab: a pair is \"source<TAB>target\"");
  EXPECT_NE(error_of([] { corpus("a\tb\tc\n"); }).find("mem.tsv:1: more than one tab"), std::string::npos);
  EXPECT_EQ(error_of([] { corpus("a\tb\n\tb\n"); }), "mem.tsv:2: the source (before the tab) is empty");
  EXPECT_EQ(error_of([] { corpus("a\t\r\n"); }), "mem.tsv:1: the target (after the tab) is empty");
  EXPECT_NE(error_of([] { corpus("a\tb\n", "x\n"); }).find("mem.tsv (test):1: no tab"), std::string::npos);
  EXPECT_NE(error_of([] { corpus("\n\n"); }).find("holds no training pair"), std::string::npos);
  EXPECT_NE(error_of([] { PairsCorpus("/nonexistent/pairs.tsv", "", characters()); }).find("/nonexistent/pairs.tsv"),
            std::string::npos);
}

TEST(Pairs, LoaderTrimsEachBatchToItsLongestSourceAndTarget) {
  const auto c = corpus("abcd\tw\nab\twxy\nabc\twx\na\tw\n");
  auto ds = std::make_shared<PairsDataset>(c, PairsSplit::Train);
  DataLoader loader(ds, LoaderOptions{.batch_size = 2, .shuffle = false});
  const Batch b = loader.next();  // the evaluation plan's first batch: the shortest pairs
  ASSERT_TRUE(b.decoder_input.defined());
  EXPECT_EQ(b.x.dtype(), DType::I32);
  EXPECT_EQ(b.x.dim(0), 2);
  // Every row's source ends in the last column; the target rows start with <bos>.
  const int64_t s = b.x.dim(1), y = b.decoder_input.dim(1);
  EXPECT_EQ(b.labels.shape(), b.decoder_input.shape());
  for (int64_t i = 0; i < 2; ++i) {
    EXPECT_NE(b.x.data<int32_t>()[i * s + s - 1], V::kPad);
    EXPECT_EQ(b.decoder_input.data<int32_t>()[i * y], V::kBos);
  }
  // Over an epoch every pair comes once, each batch trimmed to what it holds.
  DataLoader shuffled(ds, LoaderOptions{.batch_size = 2, .shuffle = true, .seed = 3});
  std::multiset<std::string> seen;
  for (int k = 0; k < 2; ++k) {
    const Batch t = shuffled.next();
    const int64_t ts = t.x.dim(1);
    int64_t longest = 0;
    for (int64_t i = 0; i < t.size(); ++i) {
      std::vector<int32_t> row(t.x.data<int32_t>() + i * ts, t.x.data<int32_t>() + (i + 1) * ts);
      row.erase(std::remove(row.begin(), row.end(), V::kPad), row.end());
      longest = std::max<int64_t>(longest, static_cast<int64_t>(row.size()));
      seen.insert(decoded(c->source_vocabulary(), row));
    }
    EXPECT_EQ(ts, longest);
  }
  EXPECT_EQ(seen, (std::multiset<std::string>{"a", "ab", "abc", "abcd"}));
  // Bucketing pairs similar lengths: the evaluation plan is sorted by length.
  const auto plan = ds->batch_plan(2, 0, 0, false);
  ASSERT_EQ(plan.size(), 2u);
  // Lengths (source + target + <eos>): 6, 6, 6, 3; sorted stably: 3, then 0, 1, 2.
  EXPECT_EQ(plan[0], (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(plan[1], (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace kiln::data
