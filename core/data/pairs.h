// Sequence-to-sequence pairs: a TSV of "source<TAB>target" lines → token ids for an encoder and a
// decoder trained with teacher forcing (translation, date formats, string reversal).
//
//   PairsOptions o;  o.tokens = PairTokens::Characters;
//   auto corpus = std::make_shared<const PairsCorpus>("dates.tsv", "", o);   // no test file:
//   auto train = std::make_shared<PairsDataset>(corpus, PairsSplit::Train);  // o.validation of
//   auto test = std::make_shared<PairsDataset>(corpus, PairsSplit::Test);    // the lines test
//   // sample i: x = source ids (S), decoder inputs <bos> y1..yn, labels y1..yn <eos> (Y each)
//
// File. UTF-8 text, one pair per line: the source, one tab, the target. Blank lines are skipped, a
// trailing "\r" is dropped. A line without a tab or with more than one, or with an empty side, is
// an error naming the file and line.
//
// Tokens. Characters (each code point a token) or words (core/data/words.h's tokenizer, with
// lower_case). Vocabularies: ids 0 = <pad>, 1 = <unk>, 2 = <bos>, 3 = <eos>, then the most frequent
// tokens of the training pairs (max_vocab - 4 of them; ties by the token's bytes, so the ids do not
// depend on the line order within a count). shared_vocabulary: one vocabulary for both sides (the
// same ids on both, e.g. for reversal); else a source vocabulary and a target vocabulary. Tokens
// outside a vocabulary read as <unk>.
//
// Samples. S = max_length and Y = max_length + 1 (in tokens; max_length = 0: the longest source
// and the longest target + 1 over every pair of the corpus). x = the source ids right-aligned (left-padded with <pad>: the encoder's last step is the
// last source token, whatever the length), reversed first with reverse_source (Sutskever et al.:
// the first target tokens then sit close to the first source tokens). The decoder side, n target
// tokens: decoder inputs <bos> y1..yn, labels y1..yn <eos>, then <pad> inputs with kIgnoreLabel
// labels (left out of the loss and the accuracy) up to Y. Pairs longer than max_length tokens on
// either side are left out and counted (describe()).
//
// Batches (the DataLoader, core/data/loader.h). A batch is trimmed to its longest source and its
// longest target: x (N, S_b), decoder inputs and labels (N, Y_b). With bucket (the default) the
// dataset plans batches of pairs of similar lengths (words.h's bucketed_batches), shuffled by seed
// and epoch in training, sorted by length for evaluation.
//
// Split. With a test file, its pairs test (encoded with the training pairs' vocabularies); without
// one, the last `validation` fraction of the lines does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/data/dataset.h"

namespace kiln::data {

enum class PairTokens : uint8_t { Characters, Words };

struct PairsOptions {
  PairTokens tokens = PairTokens::Characters;
  bool lower_case = false;        // words: ASCII letters lower-cased
  bool shared_vocabulary = true;  // one vocabulary for both sides
  int max_vocab = 10000;          // per vocabulary, the 4 special tokens included (>= 5)
  int64_t max_length = 0;         // > 0: the sample length; pairs with a longer side are left out
  double validation = 0.1;        // without a test file: the fraction of the lines that test
  bool reverse_source = false;    // feed the source backwards
  bool bucket = true;             // batches of similar lengths (see "Batches")
};

// Tokens <-> ids for one side; see "Tokens" above.
class PairVocabulary {
 public:
  static constexpr int32_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;
  PairVocabulary() = default;
  static PairVocabulary build(const std::vector<std::vector<std::string>>& sequences, int max_vocab);
  // From a stored token list (a checkpoint's); errors say `origin` when the specials are missing.
  static PairVocabulary from_tokens(std::vector<std::string> tokens, const std::string& origin);
  int size() const { return static_cast<int>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  int32_t id(const std::string& token) const;  // <unk> for a token outside the vocabulary
  std::vector<int32_t> encode(const std::vector<std::string>& tokens) const;
  // The tokens of `ids` up to the first <eos> (specials left out), joined by `joiner`.
  std::string decode(const std::vector<int32_t>& ids, const std::string& joiner) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

// One side of a pair as tokens (characters or words, per the options).
std::vector<std::string> tokenize_pair_side(const std::string& text, const PairsOptions& options);

// The pairs of a TSV file as tokens (see "File" and "Tokens"); errors name the file and line.
struct TokenPair {
  std::vector<std::string> source, target;
};
std::vector<TokenPair> read_token_pairs(const std::string& path, const PairsOptions& options);

class PairsCorpus {
 public:
  // test_file may be empty (then the last options.validation of train_file's lines test).
  PairsCorpus(const std::string& train_file, const std::string& test_file, PairsOptions options);
  // From TSV text in memory (tests); `name` stands for the file in messages.
  PairsCorpus(const std::string& train_text, const std::string& test_text, const std::string& name,
              PairsOptions options);

  const PairsOptions& options() const { return options_; }
  const PairVocabulary& source_vocabulary() const { return shared() ? target_vocab_ : source_vocab_; }
  const PairVocabulary& target_vocabulary() const { return target_vocab_; }
  bool shared() const { return options_.shared_vocabulary; }
  const std::string& name() const { return name_; }
  int64_t source_steps() const { return source_steps_; }  // S
  int64_t target_steps() const { return target_steps_; }  // Y (the longest target + 1)
  int64_t train_pairs() const { return train_pairs_; }
  int64_t pairs() const { return static_cast<int64_t>(source_.size()); }
  int64_t skipped() const { return skipped_; }  // longer than max_length
  const std::vector<int32_t>& source(int64_t pair) const { return source_[static_cast<size_t>(pair)]; }
  const std::vector<int32_t>& target(int64_t pair) const { return target_[static_cast<size_t>(pair)]; }

 private:
  void init(const std::string& train_text, const std::string& train_name, const std::string& test_text,
            const std::string& test_name);
  std::string name_;
  PairsOptions options_;
  PairVocabulary source_vocab_, target_vocab_;
  std::vector<std::vector<int32_t>> source_, target_;  // training pairs first, then the test pairs
  int64_t train_pairs_ = 0, skipped_ = 0, source_steps_ = 1, target_steps_ = 2;
};

enum class PairsSplit : uint8_t { Train, Test };

class PairsDataset final : public Dataset {
 public:
  PairsDataset(std::shared_ptr<const PairsCorpus> corpus, PairsSplit split);

  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return Shape{corpus_->source_steps()}; }
  int num_classes() const override { return corpus_->target_vocabulary().size(); }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float* target) const override;
  DType input_dtype() const override { return DType::I32; }
  int64_t labels_per_sample() const override { return corpus_->target_steps(); }
  void get_tokens(int64_t index, const SampleContext& ctx, int32_t* x, int32_t* labels) const override;
  int64_t decoder_length() const override { return corpus_->target_steps(); }
  void get_pair(int64_t index, int32_t* source, int32_t* decoder_input, int32_t* labels) const override;
  int64_t sequence_length(int64_t index) const override;
  int64_t target_length(int64_t index) const override;
  TokenVocabulary token_vocabulary() const override;
  std::vector<std::vector<int64_t>> batch_plan(int64_t batch, uint64_t seed, int64_t epoch,
                                               bool shuffle) const override;
  const PairsCorpus& corpus() const { return *corpus_; }

 private:
  std::shared_ptr<const PairsCorpus> corpus_;
  int64_t begin_ = 0, size_ = 0;  // pairs [begin_, begin_ + size_)
};

}  // namespace kiln::data
