// Text for word-level language models: UTF-8 files → word tokens → a top-K vocabulary (+ <unk>)
// → one sequence per line or sentence, padded to a fixed length, with next-word targets.
//
//   WordOptions o;  o.max_vocab = 8000;  o.seq_len = 32;
//   auto corpus = std::make_shared<const WordCorpus>(std::vector<std::string>{"/usr/share/games/fortunes"}, o);
//   auto train = std::make_shared<WordDataset>(corpus, TextSplit::Train);
//   // sample i: x = ids of sequence i padded with <pad> to T (int32, shape (T)),
//   //           labels = the next ids, -100 (the ignore label) at padded positions
//
// Tokens. The text is decoded as UTF-8 (core/data/text.h; the same file and folder rules). A word
// is a maximal run of letters and digits (ASCII letters and digits, and every code point >= U+0080
// except U+00A0 and U+2000..U+206F: accented letters, CJK), with an apostrophe between two
// letters kept inside it ("don't"); every other character that is not white space is a token of
// its own ("," "." "!" "--" is two tokens). With lower_case, ASCII letters are lower-cased.
//
// Sequences. split = Lines: each non-empty line is a sequence. Sentences: a sequence ends after
// ".", "!" or "?" and at every blank line (a paragraph; the fortunes' "%" separator lines are
// dropped in both modes). <eos> marks both ends, so the model learns how lines begin and where
// they end: a sequence w1..wn gives x = <eos> w1..wn, labels = w1..wn <eos> (n + 1 positions; a
// sampler starts a line by feeding <eos>). A sequence longer than T - 1 words is cut into pieces
// of T inputs (each piece's labels continue into the next piece's first input).
//
// Vocabulary. ids 0 = <pad>, 1 = <unk>, 2 = <eos>, then the max_vocab - 3 most frequent words of
// the training split in order of count, ties broken by the word's bytes (alphabetically):
// deterministic, whatever the file order within a count. Every other word maps to <unk>.
//
// Fixed length and masking. Every sample has shape (T) (the [model] input): a sequence shorter
// than T is padded with <pad> inputs and kIgnoreLabel labels, which SoftmaxCrossEntropy leaves out
// of the loss and the accuracy. So (N, T) int32 batches are correct in any order the DataLoader
// draws; with bucketing it also trims them (below).
//
// Bucketing (bucket, on by default). The dataset plans its own batches (Dataset::batch_plan):
// bucketed_batches() groups sequences of similar length, and the DataLoader trims each batch to
// its longest sequence, x and labels (N, T_b) with T_b <= T, so the LSTM runs T_b steps instead of
// T: on lines of very different lengths most of the padding, and its compute, is gone. Training
// batches are shuffled (by seed and epoch, so resuming is exact); evaluation batches (no shuffle)
// are sorted by length. bucket = false: every sample is (T), drawn in the loader's uniform shuffle.
//
// Split. The last `validation` fraction of the sequences (a contiguous tail) validate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/text.h"

namespace kiln::data {


// Words and punctuation tokens (UTF-8) of a text; see the header comment.
std::vector<std::string> tokenize_words(std::u32string_view text, bool lower_case);

class WordVocabulary {
 public:
  static constexpr int32_t kPad = 0, kUnk = 1, kEos = 2;
  WordVocabulary() = default;
  // From word counts: the top max_vocab - 3 words (ties: alphabetical) after <pad> <unk> <eos>.
  static WordVocabulary build(const std::vector<std::string>& words, int max_vocab);
  int size() const { return static_cast<int>(words_.size()); }
  const std::string& word(int32_t id) const;  // throws for an id outside 0..size()-1
  int32_t id(const std::string& word) const;  // <unk>'s id for a word outside the vocabulary
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> ids_;
};

enum class WordSplit : uint8_t { Lines, Sentences };

struct WordOptions {
  int max_vocab = 10000;     // vocabulary size, the 3 special tokens included (>= 4)
  int64_t seq_len = 32;      // T
  double validation = 0.05;  // fraction of the sequences kept for validation, in [0, 0.5]
  bool lower_case = true;
  WordSplit split = WordSplit::Lines;
  int64_t max_words = 0;     // > 0: only the first max_words tokens (quick runs)
  bool bucket = true;        // batches of similar lengths, trimmed (see "Bucketing")
};

class WordCorpus {
 public:
  WordCorpus(const std::vector<std::string>& paths, WordOptions options);
  WordCorpus(std::u32string_view text, const std::string& name, WordOptions options);  // tests

  const WordVocabulary& vocabulary() const { return vocab_; }
  const WordOptions& options() const { return options_; }
  const std::string& name() const { return name_; }
  // Samples: pieces of at most T inputs (ids, <eos> included at the end of each sequence's last
  // piece's labels). piece(i) = ids [begin, end) of the flat id array; inputs are [begin, end - 1).
  int64_t pieces() const { return static_cast<int64_t>(starts_.size()); }
  int64_t train_pieces() const { return train_pieces_; }
  // Inputs of piece i (1..T) and its ids.
  int64_t length(int64_t piece) const;
  const int32_t* ids(int64_t piece) const;
  // Entropy (nats per token) of the training labels (words, <unk> and <eos>): the unigram baseline.
  double unigram_entropy() const;
  // Fraction of training tokens that map to <unk>.
  double unknown_rate() const { return unknown_rate_; }

 private:
  void init(std::u32string text);
  std::string name_;
  WordOptions options_;
  WordVocabulary vocab_;
  std::vector<int32_t> ids_;             // <eos>, then each sequence followed by <eos>
  std::vector<int64_t> starts_, lens_;   // piece i: inputs ids_[starts_[i] .. + lens_[i]), labels one later
  int64_t train_pieces_ = 0;
  double unknown_rate_ = 0;
};

// Batches of sample indices 0..lengths.size()-1 grouped by length: the samples are shuffled
// (Philox keyed by seed, epoch), sorted by length within pools of 50 batches, cut into batches of
// `batch`, and the batches shuffled. Every index appears once; deterministic for (seed, epoch);
// ceil(n / batch) batches, the one short batch (if any) among them. shuffle = false: all samples
// sorted by length (stable), cut in that order, seed and epoch unused.
std::vector<std::vector<int64_t>> bucketed_batches(const std::vector<int64_t>& lengths, int64_t batch, uint64_t seed,
                                                   int64_t epoch, bool shuffle = true);

// Sequences of one split of a word corpus, padded to T, next-word labels masked past the end.
class WordDataset final : public Dataset {
 public:
  WordDataset(std::shared_ptr<const WordCorpus> corpus, TextSplit split);

  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return Shape{corpus_->options().seq_len}; }
  int num_classes() const override { return corpus_->vocabulary().size(); }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float* target) const override;
  DType input_dtype() const override { return DType::I32; }
  int64_t labels_per_sample() const override { return corpus_->options().seq_len; }
  void get_tokens(int64_t index, const SampleContext& ctx, int32_t* x, int32_t* labels) const override;
  const WordCorpus& corpus() const { return *corpus_; }
  TokenVocabulary token_vocabulary() const override { return {"words", corpus_->vocabulary().words()}; }
  double unigram_entropy() const override { return corpus_->unigram_entropy(); }
  // The unpadded length (inputs) of sample i.
  int64_t sequence_length(int64_t index) const override;
  // With options().bucket: this split's bucketed_batches(); else none (the loader's order).
  std::vector<std::vector<int64_t>> batch_plan(int64_t batch, uint64_t seed, int64_t epoch,
                                               bool shuffle) const override;

 private:
  std::shared_ptr<const WordCorpus> corpus_;
  int64_t begin_ = 0, size_ = 0;  // pieces [begin_, begin_ + size_)
};

}  // namespace kiln::data
