#include "core/data/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/data/io.h"
#include "core/error.h"

namespace kiln::data {

namespace {
constexpr char32_t kReplacement = 0xFFFD;

std::string printable(char32_t c) {
  if (c >= 0x20 && c != 0x7F && !(c >= 0xD800 && c <= 0xDFFF) && c <= 0x10FFFF) {
    return fmt::format("'{}' (U+{:04X})", encode_utf8(c), static_cast<uint32_t>(c));
  }
  return fmt::format("U+{:04X}", static_cast<uint32_t>(c));
}
}  // namespace

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    int len = 0;
    char32_t cp = 0, min = 0;
    if (b < 0x80) { out.push_back(b); ++i; continue; }
    if ((b & 0xE0) == 0xC0) { len = 2; cp = b & 0x1F; min = 0x80; }
    else if ((b & 0xF0) == 0xE0) { len = 3; cp = b & 0x0F; min = 0x800; }
    else if ((b & 0xF8) == 0xF0) { len = 4; cp = b & 0x07; min = 0x10000; }
    bool ok = len > 0 && i + static_cast<size_t>(len) <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.push_back(cp);
      i += static_cast<size_t>(len);
    } else {
      out.push_back(kReplacement);
      ++i;
    }
  }
  return out;
}

std::string encode_utf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) out += encode_utf8(c);
  return out;
}

// ---------------------------------------------------------------------------------------------

Vocabulary Vocabulary::build(std::u32string_view text, int max_vocab) {
  KILN_CHECK(max_vocab == 0 || max_vocab >= 2, "vocabulary: max_vocab {} must be 0 (no limit) or at least 2",
             max_vocab);
  std::map<char32_t, int64_t> counts;
  for (char32_t c : text) ++counts[c];
  std::vector<char32_t> symbols;
  if (max_vocab == 0 || static_cast<int64_t>(counts.size()) <= max_vocab) {
    for (const auto& [c, n] : counts) symbols.push_back(c);
  } else {
    std::vector<std::pair<int64_t, char32_t>> by_count;
    for (const auto& [c, n] : counts) {
      if (c != kReplacement) by_count.emplace_back(n, c);
    }
    std::stable_sort(by_count.begin(), by_count.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });  // ties: smaller code point first
    for (int k = 0; k < max_vocab - 1; ++k) symbols.push_back(by_count[static_cast<size_t>(k)].second);
    symbols.push_back(kReplacement);
    std::sort(symbols.begin(), symbols.end());
  }
  Vocabulary v;
  v.symbols_ = std::move(symbols);
  for (size_t i = 0; i < v.symbols_.size(); ++i) v.ids_[v.symbols_[i]] = static_cast<int32_t>(i);
  return v;
}

char32_t Vocabulary::symbol(int32_t id) const {
  KILN_CHECK(id >= 0 && id < size(), "token id {} is outside the vocabulary (0..{})", id, size() - 1);
  return symbols_[static_cast<size_t>(id)];
}

int32_t Vocabulary::id(char32_t c) const {
  auto it = ids_.find(c);
  if (it != ids_.end()) return it->second;
  auto unk = ids_.find(kReplacement);
  if (unk != ids_.end()) return unk->second;
  fail(fmt::format("the character {} is not in the vocabulary ({} characters) of the training text", printable(c),
                   size()));
}

std::vector<int32_t> Vocabulary::encode(std::u32string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size());
  for (char32_t c : text) out.push_back(id(c));
  return out;
}

std::string Vocabulary::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += encode_utf8(symbol(id));
  return out;
}

// ---------------------------------------------------------------------------------------------

std::vector<std::string> expand_text_paths(const std::vector<std::string>& paths, std::string_view what) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> in_dir;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_symlink() || !entry.is_regular_file() || entry.path().extension() == ".dat") continue;
        in_dir.push_back(entry.path().string());
      }
      KILN_CHECK(!ec, "{}: cannot list the folder '{}': {}", what, p, ec.message());
      std::sort(in_dir.begin(), in_dir.end());
      KILN_CHECK(!in_dir.empty(), "{}: the folder '{}' has no text files", what, p);
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else {
      KILN_CHECK(fs::exists(p, ec), "{}: '{}' does not exist (for the fortune files: apt-get install fortunes)", what, p);
      files.push_back(p);
    }
  }
  return files;
}

TextCorpus::TextCorpus(const std::vector<std::string>& paths, TextOptions options) {
  KILN_CHECK(!paths.empty(), "text: no files given");
  const std::vector<std::string> files = expand_text_paths(paths, "text");
  std::u32string text;
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = read_file(f);
    text += decode_utf8(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    if (options.max_chars > 0 && static_cast<int64_t>(text.size()) >= options.max_chars) break;
  }
  name_ = files.size() == 1 ? files.front() : fmt::format("{} ({} files)", paths.front(), files.size());
  init(std::move(text), options);
}

TextCorpus::TextCorpus(std::u32string_view text, const std::string& name, TextOptions options) : name_(name) {
  init(std::u32string(text), options);
}

void TextCorpus::init(std::u32string text, TextOptions options) {
  KILN_CHECK(options.validation >= 0 && options.validation <= 0.5, "text: validation fraction {} must be in [0, 0.5]",
             options.validation);
  if (options.max_chars > 0 && static_cast<int64_t>(text.size()) > options.max_chars) {
    text.resize(static_cast<size_t>(options.max_chars));
  }
  KILN_CHECK(text.size() >= 2, "text: {} has {} characters; a language model needs more", name_, text.size());
  vocab_ = Vocabulary::build(text, options.max_vocab);
  ids_ = vocab_.encode(text);
  const int64_t n = static_cast<int64_t>(ids_.size());
  train_end_ = n - static_cast<int64_t>(std::llround(options.validation * static_cast<double>(n)));
}

double TextCorpus::unigram_entropy() const {
  std::vector<int64_t> counts(static_cast<size_t>(vocab_.size()), 0);
  for (int64_t i = 0; i < train_end_; ++i) ++counts[static_cast<size_t>(ids_[static_cast<size_t>(i)])];
  double h = 0;
  for (int64_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / static_cast<double>(train_end_);
    h -= p * std::log(p);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------

TextDataset::TextDataset(std::shared_ptr<const TextCorpus> corpus, TextSplit split, int64_t seq_len,
                         int64_t streams)
    : corpus_(std::move(corpus)), split_(split), seq_len_(seq_len), streams_(streams) {
  KILN_CHECK(corpus_ != nullptr, "TextDataset: no corpus");
  KILN_CHECK(seq_len_ >= 1, "TextDataset: sequence length {} must be >= 1", seq_len_);
  KILN_CHECK(streams_ >= 0, "TextDataset: streams {} must be >= 0", streams_);
  const int64_t n = static_cast<int64_t>(corpus_->ids().size());
  begin_ = split_ == TextSplit::Train ? 0 : corpus_->train_end();
  end_ = split_ == TextSplit::Train ? corpus_->train_end() : n;
  const int64_t s = std::max<int64_t>(streams_, 1);  // no streams: one stream, the same samples
  stream_len_ = (end_ - begin_) / s;
  size_ = s * (std::max<int64_t>(stream_len_ - 1, 0) / seq_len_);
  KILN_CHECK(size_ > 0, "text: the {} split of {} has {} characters, too few for {} stream(s) of one sequence of {} "
             "(+1) each (at most {})", split_ == TextSplit::Train ? "training" : "validation", corpus_->name(),
             end_ - begin_, s, seq_len_, max_streams(end_ - begin_, seq_len_));
}

std::string TextDataset::describe() const {
  return fmt::format("text {} ({}): {} sequences of {} characters{}, vocabulary {}", corpus_->name(),
                     split_ == TextSplit::Train ? "train" : "validation", size_, seq_len_,
                     streams_ > 0 ? fmt::format(" in {} streams", streams_) : "", corpus_->vocabulary().size());
}

void TextDataset::get(int64_t, const SampleContext&, float*, int32_t*, float*) const {
  fail(fmt::format("{} serves int32 token ids (get_tokens), not floats", describe()));
}

void TextDataset::get_tokens(int64_t index, const SampleContext&, int32_t* x, int32_t* labels) const {
  KILN_CHECK(index >= 0 && index < size_, "sample {} is out of range for {}", index, describe());
  const int64_t s = std::max<int64_t>(streams_, 1);
  const int32_t* ids = corpus_->ids().data() + begin_ + index % s * stream_len_ + index / s * seq_len_;
  std::copy(ids, ids + seq_len_, x);
  if (labels) std::copy(ids + 1, ids + seq_len_ + 1, labels);
}

Dataset::TokenVocabulary TextDataset::token_vocabulary() const {
  TokenVocabulary v{"characters", {}};
  for (char32_t c : corpus_->vocabulary().symbols()) v.tokens.push_back(encode_utf8(c));
  return v;
}

}  // namespace kiln::data
