// Text for character-level language models: UTF-8 files → a vocabulary of code points → token
// ids → fixed-length training sequences with next-character targets.
//
//   TextOptions o;  o.seq_len = 64;  o.validation = 0.05;
//   auto corpus = std::make_shared<const TextCorpus>(std::vector<std::string>{"/usr/share/games/fortunes"}, o);
//   auto train = std::make_shared<TextDataset>(corpus, TextSplit::Train, 64);
//   auto valid = std::make_shared<TextDataset>(corpus, TextSplit::Validation, 64);
//   // sample i: x = ids[i*T, i*T+T) (int32, shape (T)), labels = ids[i*T+1, i*T+T+1) (T labels)
//
// Files. Each path is a file or a directory; a directory contributes its regular files (not
// symbolic links, not *.dat: the fortune package's index files) in name order, not recursively.
// The files are concatenated in the order given. Bytes that are not valid UTF-8 decode to
// U+FFFD (each bad byte one replacement character), so any file loads.
//
// Vocabulary. The distinct code points, sorted by code point: deterministic, the same for the
// same text whatever the file order. With max_vocab > 0 and more distinct code points than that,
// the max_vocab - 1 most frequent ones are kept (ties: the smaller code point) and every other
// one maps to U+FFFD, which then takes a slot of its own (still sorted by code point).
//
// Split. The first (1 - validation) of the ids train, the rest validate (a contiguous tail, so
// no validation sequence overlaps a training one). Sequences do not overlap: a split of L ids
// gives (L - 1) / T samples (the last target needs one id past the input).
//
// Streams (truncated back-propagation through time; PyTorch's word_language_model "batchify").
// With streams = S > 0 the split's L ids are cut into S contiguous streams of L / S ids each (the
// remainder dropped), and sample i is sequence i / S of stream i % S: drawn in index order in
// batches of S (Dataset::streams()), row s of batch b + 1 starts with the id that was the last
// label of row s of batch b, so a stateful LSTM carries its state on in the same text. A stream of
// L / S ids gives (L / S - 1) / T sequences, so the split must hold at least S * (T + 1) ids
// (max_streams()). streams = 0 is the layout above (the same samples as S = 1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/data/dataset.h"

namespace kiln::data {

// Decodes UTF-8 to code points (invalid bytes → U+FFFD, one per byte) and encodes back.
std::u32string decode_utf8(std::string_view bytes);
std::string encode_utf8(char32_t code_point);
std::string encode_utf8(std::u32string_view text);

// The files behind `paths` (see "Files" above): each file as given, each folder's regular files
// in name order. Errors start with `what` ("text", "words") and name the path.
std::vector<std::string> expand_text_paths(const std::vector<std::string>& paths, std::string_view what);

class Vocabulary {
 public:
  Vocabulary() = default;
  // From the code-point counts of a text (see the header comment for max_vocab).
  static Vocabulary build(std::u32string_view text, int max_vocab = 0);
  int size() const { return static_cast<int>(symbols_.size()); }
  char32_t symbol(int32_t id) const;                 // throws for an id outside 0..size()-1
  // The id of a code point; an unknown one maps to U+FFFD's id if the vocabulary has it, else
  // it is an error naming the character.
  int32_t id(char32_t code_point) const;
  std::vector<int32_t> encode(std::u32string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  const std::vector<char32_t>& symbols() const { return symbols_; }

 private:
  std::vector<char32_t> symbols_;
  std::unordered_map<char32_t, int32_t> ids_;
};

struct TextOptions {
  double validation = 0.05;  // fraction of the text kept for validation, in [0, 0.5]
  int max_vocab = 0;         // 0: every code point gets an id
  int64_t max_chars = 0;     // > 0: only the first max_chars code points (quick runs)
};

class TextCorpus {
 public:
  TextCorpus(const std::vector<std::string>& paths, TextOptions options);
  // From text in memory (tests); `name` describes it.
  TextCorpus(std::u32string_view text, const std::string& name, TextOptions options);

  const Vocabulary& vocabulary() const { return vocab_; }
  const std::vector<int32_t>& ids() const { return ids_; }
  int64_t train_end() const { return train_end_; }  // ids [0, train_end) train, the rest validate
  const std::string& name() const { return name_; }
  // Entropy (nats per character) of the training split's character distribution: the loss of the
  // best model that ignores context (the unigram baseline a language model must beat).
  double unigram_entropy() const;

 private:
  void init(std::u32string text, TextOptions options);
  std::string name_;
  Vocabulary vocab_;
  std::vector<int32_t> ids_;
  int64_t train_end_ = 0;
};

enum class TextSplit : uint8_t { Train, Validation };

// Sequences of seq_len ids from one split of a corpus, with next-id targets; with streams > 0,
// laid out in that many streams (see "Streams" above).
class TextDataset final : public Dataset {
 public:
  TextDataset(std::shared_ptr<const TextCorpus> corpus, TextSplit split, int64_t seq_len, int64_t streams = 0);
  // The most streams a split of `ids` ids holds with sequences of seq_len: ids / (seq_len + 1).
  static int64_t max_streams(int64_t ids, int64_t seq_len) { return ids / (seq_len + 1); }

  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return Shape{seq_len_}; }
  int num_classes() const override { return corpus_->vocabulary().size(); }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float* target) const override;
  DType input_dtype() const override { return DType::I32; }
  int64_t labels_per_sample() const override { return seq_len_; }
  void get_tokens(int64_t index, const SampleContext& ctx, int32_t* x, int32_t* labels) const override;
  const TextCorpus& corpus() const { return *corpus_; }
  TokenVocabulary token_vocabulary() const override;
  double unigram_entropy() const override { return corpus_->unigram_entropy(); }
  int64_t streams() const override { return streams_; }

 private:
  std::shared_ptr<const TextCorpus> corpus_;
  TextSplit split_;
  int64_t seq_len_;
  int64_t streams_ = 0;
  int64_t begin_ = 0, end_ = 0;  // the split's ids
  int64_t stream_len_ = 0;       // ids per stream (the whole split without streams)
  int64_t size_ = 0;
};

}  // namespace kiln::data
