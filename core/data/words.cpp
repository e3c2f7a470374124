#include "core/data/words.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/data/io.h"
#include "core/data/loader.h"
#include "core/error.h"

namespace kiln::data {

namespace {

bool is_space(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || c == U'\v' || c == U'\f' || c == 0xA0 ||
         (c >= 0x2000 && c <= 0x200B) || c == 0x3000 || c == 0xFEFF;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9');
  return !is_space(c) && !(c >= 0x2000 && c <= 0x206F) && !(c >= 0x3000 && c <= 0x303F);
}

bool is_apostrophe(char32_t c) { return c == U'\'' || c == 0x2019; }

// Files and folders as in text.h: a folder's regular files (not links, not *.dat), in name order.
std::u32string load_text(const std::vector<std::string>& paths, std::string* name) {
  KILN_CHECK(!paths.empty(), "words: no files given");
  const std::vector<std::string> files = expand_text_paths(paths, "words");
  std::u32string text;
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = read_file(f);
    text += decode_utf8(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    text += U'\n';
  }
  *name = files.size() == 1 ? files.front() : fmt::format("{} ({} files)", paths.front(), files.size());
  return text;
}

}  // namespace

std::vector<std::string> tokenize_words(std::u32string_view text, bool lower_case) {
  std::vector<std::string> out;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(encode_utf8(word));
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (is_word_char(c)) {
      if (lower_case && c >= U'A' && c <= U'Z') c = c - U'A' + U'a';
      word.push_back(c);
    } else if (is_apostrophe(c) && !word.empty() && i + 1 < text.size() && is_word_char(text[i + 1])) {
      word.push_back(U'\'');  // "don't", "it's"; both apostrophes become '
    } else {
      flush();
      if (!is_space(c)) out.push_back(encode_utf8(c));
    }
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------------------------

WordVocabulary WordVocabulary::build(const std::vector<std::string>& words, int max_vocab) {
  KILN_CHECK(max_vocab >= 4, "words: the vocabulary size {} must be at least 4 (<pad> <unk> <eos> and a word)",
             max_vocab);
  std::map<std::string, int64_t> counts;  // sorted by bytes: the tie order
  for (const std::string& w : words) ++counts[w];
  std::vector<std::pair<int64_t, const std::string*>> by_count;
  by_count.reserve(counts.size());
  for (const auto& [w, n] : counts) by_count.emplace_back(n, &w);
  std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  WordVocabulary v;
  v.words_ = {"<pad>", "<unk>", "<eos>"};
  for (const auto& [n, w] : by_count) {
    if (v.size() >= max_vocab) break;
    if (*w == "<pad>" || *w == "<unk>" || *w == "<eos>") continue;  // cannot occur (< is a token alone)
    v.words_.push_back(*w);
  }
  for (size_t i = 0; i < v.words_.size(); ++i) v.ids_[v.words_[i]] = static_cast<int32_t>(i);
  return v;
}

const std::string& WordVocabulary::word(int32_t id) const {
  KILN_CHECK(id >= 0 && id < size(), "word id {} is outside the vocabulary (0..{})", id, size() - 1);
  return words_[static_cast<size_t>(id)];
}

int32_t WordVocabulary::id(const std::string& word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? kUnk : it->second;
}

// ---------------------------------------------------------------------------------------------

WordCorpus::WordCorpus(const std::vector<std::string>& paths, WordOptions options) : options_(options) {
  std::u32string text = load_text(paths, &name_);
  init(std::move(text));
}

WordCorpus::WordCorpus(std::u32string_view text, const std::string& name, WordOptions options)
    : name_(name), options_(options) {
  init(std::u32string(text));
}

void WordCorpus::init(std::u32string text) {
  const WordOptions& o = options_;
  KILN_CHECK(o.validation >= 0 && o.validation <= 0.5, "words: validation fraction {} must be in [0, 0.5]",
             o.validation);
  KILN_CHECK(o.seq_len >= 1, "words: the sequence length {} must be >= 1", o.seq_len);

  // Sequences of tokens.
  std::vector<std::vector<std::string>> seqs;
  std::vector<std::string> current;
  int64_t total = 0;
  auto end_sequence = [&] {
    if (!current.empty()) seqs.push_back(std::move(current));
    current.clear();
  };
  size_t pos = 0;
  while (pos < text.size() && (o.max_words <= 0 || total < o.max_words)) {
    size_t nl = text.find(U'\n', pos);
    if (nl == std::u32string::npos) nl = text.size();
    const std::u32string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    std::vector<std::string> tokens = tokenize_words(line, o.lower_case);
    if (tokens.empty() || (tokens.size() == 1 && tokens[0] == "%")) {  // blank or a fortune separator
      end_sequence();
      continue;
    }
    if (o.max_words > 0 && total + static_cast<int64_t>(tokens.size()) > o.max_words) {
      tokens.resize(static_cast<size_t>(o.max_words - total));
    }
    total += static_cast<int64_t>(tokens.size());
    for (std::string& t : tokens) {
      const bool stop = t == "." || t == "!" || t == "?";
      current.push_back(std::move(t));
      if (o.split == WordSplit::Sentences && stop) end_sequence();
    }
    if (o.split == WordSplit::Lines) end_sequence();
  }
  end_sequence();
  KILN_CHECK(seqs.size() >= 2, "words: {} has {} sequences; a language model needs more", name_, seqs.size());

  // The split (by sequence) and the vocabulary of the training sequences.
  const int64_t n = static_cast<int64_t>(seqs.size());
  const int64_t n_train = n - static_cast<int64_t>(std::llround(o.validation * static_cast<double>(n)));
  KILN_CHECK(n_train > 0, "words: {} leaves no training sequence", name_);
  std::vector<std::string> train_words;
  for (int64_t s = 0; s < n_train; ++s) {
    const auto& seq = seqs[static_cast<size_t>(s)];
    train_words.insert(train_words.end(), seq.begin(), seq.end());
  }
  vocab_ = WordVocabulary::build(train_words, o.max_vocab);
  int64_t unknown = 0;
  for (const std::string& w : train_words) unknown += vocab_.id(w) == WordVocabulary::kUnk;
  unknown_rate_ = train_words.empty() ? 0.0 : static_cast<double>(unknown) / static_cast<double>(train_words.size());
  train_words = {};

  // Ids and pieces of at most T inputs. Sequences are separated by one <eos>, which is both the
  // last label of a sequence and the first input of the next.
  ids_.push_back(WordVocabulary::kEos);
  for (int64_t s = 0; s < n; ++s) {
    const auto& seq = seqs[static_cast<size_t>(s)];
    const int64_t start = static_cast<int64_t>(ids_.size()) - 1;  // the <eos> before it
    for (const std::string& w : seq) ids_.push_back(vocab_.id(w));
    ids_.push_back(WordVocabulary::kEos);
    const int64_t inputs = static_cast<int64_t>(seq.size()) + 1;
    for (int64_t k = 0; k < inputs; k += o.seq_len) {
      starts_.push_back(start + k);
      lens_.push_back(std::min(o.seq_len, inputs - k));
    }
    if (s + 1 == n_train) train_pieces_ = static_cast<int64_t>(starts_.size());
  }
}

int64_t WordCorpus::length(int64_t piece) const {
  KILN_CHECK(piece >= 0 && piece < pieces(), "words: piece {} is out of range ({} pieces)", piece, pieces());
  return lens_[static_cast<size_t>(piece)];
}

const int32_t* WordCorpus::ids(int64_t piece) const {
  KILN_CHECK(piece >= 0 && piece < pieces(), "words: piece {} is out of range ({} pieces)", piece, pieces());
  return ids_.data() + starts_[static_cast<size_t>(piece)];
}

double WordCorpus::unigram_entropy() const {
  std::vector<int64_t> counts(static_cast<size_t>(vocab_.size()), 0);
  int64_t total = 0;
  for (int64_t p = 0; p < train_pieces_; ++p) {
    const int32_t* x = ids(p);
    for (int64_t t = 1; t <= length(p); ++t, ++total) ++counts[static_cast<size_t>(x[t])];
  }
  double h = 0;
  for (int64_t c : counts) {
    if (c == 0) continue;
    const double q = static_cast<double>(c) / static_cast<double>(total);
    h -= q * std::log(q);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------

std::vector<std::vector<int64_t>> bucketed_batches(const std::vector<int64_t>& lengths, int64_t batch, uint64_t seed,
                                                   int64_t epoch, bool shuffle) {
  KILN_CHECK(batch >= 1, "bucketed_batches: batch {} must be >= 1", batch);
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> order = shuffle ? shuffled_order(n, seed, epoch) : identity_order(n);
  const int64_t pool = shuffle ? batch * 50 : std::max<int64_t>(n, 1);
  for (int64_t b = 0; b < n; b += pool) {
    const auto first = order.begin() + b, last = order.begin() + std::min(n, b + pool);
    std::stable_sort(first, last, [&](int64_t i, int64_t j) {
      return lengths[static_cast<size_t>(i)] < lengths[static_cast<size_t>(j)];
    });
  }
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b = 0; b < n; b += batch) {
    batches.emplace_back(order.begin() + b, order.begin() + std::min(n, b + batch));
  }
  if (!shuffle) return batches;
  // Shuffle the batches with another stream of the same (seed, epoch).
  const std::vector<int64_t> perm =
      shuffled_order(static_cast<int64_t>(batches.size()), seed ^ 0x9E3779B97F4A7C15ull, epoch);
  std::vector<std::vector<int64_t>> out;
  out.reserve(batches.size());
  for (int64_t k : perm) out.push_back(std::move(batches[static_cast<size_t>(k)]));
  return out;
}

// ---------------------------------------------------------------------------------------------

WordDataset::WordDataset(std::shared_ptr<const WordCorpus> corpus, TextSplit split) : corpus_(std::move(corpus)) {
  KILN_CHECK(corpus_ != nullptr, "WordDataset: no corpus");
  begin_ = split == TextSplit::Train ? 0 : corpus_->train_pieces();
  size_ = split == TextSplit::Train ? corpus_->train_pieces() : corpus_->pieces() - corpus_->train_pieces();
  KILN_CHECK(size_ > 0, "words: the {} split of {} has no sequences", split == TextSplit::Train ? "training" : "validation",
             corpus_->name());
}

std::string WordDataset::describe() const {
  return fmt::format("words {} ({}): {} sequences of up to {} words, vocabulary {}", corpus_->name(),
                     begin_ == 0 ? "train" : "validation", size_, corpus_->options().seq_len,
                     corpus_->vocabulary().size());
}

void WordDataset::get(int64_t, const SampleContext&, float*, int32_t*, float*) const {
  fail(fmt::format("{} serves int32 token ids (get_tokens), not floats", describe()));
}

int64_t WordDataset::sequence_length(int64_t index) const {
  KILN_CHECK(index >= 0 && index < size_, "sample {} is out of range for {}", index, describe());
  return corpus_->length(begin_ + index);
}

void WordDataset::get_tokens(int64_t index, const SampleContext&, int32_t* x, int32_t* labels) const {
  const int64_t len = sequence_length(index);
  const int64_t T = corpus_->options().seq_len;
  const int32_t* ids = corpus_->ids(begin_ + index);
  std::copy(ids, ids + len, x);
  std::fill(x + len, x + T, WordVocabulary::kPad);
  if (labels) {
    std::copy(ids + 1, ids + len + 1, labels);
    std::fill(labels + len, labels + T, kIgnoreLabel);
  }
}

std::vector<std::vector<int64_t>> WordDataset::batch_plan(int64_t batch, uint64_t seed, int64_t epoch,
                                                          bool shuffle) const {
  if (!corpus_->options().bucket) return {};
  std::vector<int64_t> lengths(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) lengths[static_cast<size_t>(i)] = sequence_length(i);
  return bucketed_batches(lengths, batch, seed, epoch, shuffle);
}

}  // namespace kiln::data
