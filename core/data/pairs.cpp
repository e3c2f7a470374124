// Sequence-to-sequence pairs from a TSV (declared and documented in core/data/pairs.h).
#include "core/data/pairs.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "core/data/io.h"
#include "core/data/text.h"
#include "core/data/words.h"
#include "core/error.h"
#include "core/files.h"

namespace kiln::data {

namespace {

const std::vector<std::string>& specials() {
  static const std::vector<std::string> s{"<pad>", "<unk>", "<bos>", "<eos>"};
  return s;
}

using RawPair = TokenPair;

// The pairs of one TSV text; `name` is the file in messages ("dates.tsv:12: ...").
std::vector<RawPair> parse_tsv(const std::string& text, const std::string& name, const PairsOptions& o) {
  std::vector<RawPair> out;
  size_t begin = 0;
  for (int64_t line = 1; begin < text.size(); ++line) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string row = text.substr(begin, end - begin);
    begin = end + 1;
    if (!row.empty() && row.back() == '\r') row.pop_back();
    if (row.find_first_not_of(" \t") == std::string::npos) continue;  // blank
    const size_t tab = row.find('\t');
    KILN_CHECK(tab != std::string::npos, "{}:{}: no tab: a pair is \"source<TAB>target\"", name, line);
    KILN_CHECK(row.find('\t', tab + 1) == std::string::npos,
               "{}:{}: more than one tab: a pair is \"source<TAB>target\" (tabs cannot be inside a side)", name, line);
    RawPair p{tokenize_pair_side(row.substr(0, tab), o), tokenize_pair_side(row.substr(tab + 1), o)};
    KILN_CHECK(!p.source.empty(), "{}:{}: the source (before the tab) is empty", name, line);
    KILN_CHECK(!p.target.empty(), "{}:{}: the target (after the tab) is empty", name, line);
    out.push_back(std::move(p));
  }
  return out;
}

std::string read_text(const std::string& path, const char* what) {
  require_regular_file(path, what);
  const std::vector<uint8_t> bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::vector<TokenPair> read_token_pairs(const std::string& path, const PairsOptions& options) {
  return parse_tsv(read_text(path, "pairs file"), path, options);
}

// ---------------------------------------------------------------------------------------------

PairVocabulary PairVocabulary::build(const std::vector<std::vector<std::string>>& sequences, int max_vocab) {
  KILN_CHECK(max_vocab >= 5, "pairs: max_vocab = {} leaves no room for tokens beside <pad> <unk> <bos> <eos>",
             max_vocab);
  std::map<std::string, int64_t> counts;  // sorted by bytes: the tie order
  for (const auto& seq : sequences)
    for (const std::string& t : seq) ++counts[t];
  for (const std::string& s : specials()) counts.erase(s);  // the specials have their fixed ids
  std::vector<std::pair<int64_t, const std::string*>> by_count;
  for (const auto& [t, n] : counts) by_count.emplace_back(n, &t);
  std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> tokens = specials();
  for (size_t i = 0; i < by_count.size() && tokens.size() < static_cast<size_t>(max_vocab); ++i)
    tokens.push_back(*by_count[i].second);
  return from_tokens(std::move(tokens), "pairs");
}

PairVocabulary PairVocabulary::from_tokens(std::vector<std::string> tokens, const std::string& origin) {
  KILN_CHECK(tokens.size() > specials().size() && std::equal(specials().begin(), specials().end(), tokens.begin()),
             "{}: a pairs vocabulary must start with <pad> <unk> <bos> <eos> and hold tokens after them", origin);
  PairVocabulary v;
  v.tokens_ = std::move(tokens);
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    const bool fresh = v.ids_.emplace(v.tokens_[i], static_cast<int32_t>(i)).second;
    KILN_CHECK(fresh, "{}: the pairs vocabulary holds \"{}\" twice", origin, v.tokens_[i]);
  }
  return v;
}

int32_t PairVocabulary::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

std::vector<int32_t> PairVocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<int32_t> out;
  out.reserve(tokens.size());
  for (const std::string& t : tokens) out.push_back(id(t));
  return out;
}

std::string PairVocabulary::decode(const std::vector<int32_t>& ids, const std::string& joiner) const {
  std::string out;
  bool first = true;
  for (const int32_t i : ids) {
    if (i == kEos) break;
    if (i < 0 || i >= size() || i == kPad || i == kBos) continue;
    if (!first) out += joiner;
    out += tokens_[static_cast<size_t>(i)];
    first = false;
  }
  return out;
}

std::vector<std::string> tokenize_pair_side(const std::string& text, const PairsOptions& options) {
  const std::u32string code_points = decode_utf8(text);
  if (options.tokens == PairTokens::Words) return tokenize_words(code_points, options.lower_case);
  std::vector<std::string> out;
  out.reserve(code_points.size());
  for (const char32_t c : code_points) out.push_back(encode_utf8(c));
  return out;
}

// ---------------------------------------------------------------------------------------------

PairsCorpus::PairsCorpus(const std::string& train_file, const std::string& test_file, PairsOptions options)
    : name_(train_file), options_(options) {
  init(read_text(train_file, "pairs train_file"), train_file,
       test_file.empty() ? std::string() : read_text(test_file, "pairs test_file"), test_file);
}

PairsCorpus::PairsCorpus(const std::string& train_text, const std::string& test_text, const std::string& name,
                         PairsOptions options)
    : name_(name), options_(options) {
  init(train_text, name, test_text, test_text.empty() ? std::string() : name + " (test)");
}

void PairsCorpus::init(const std::string& train_text, const std::string& train_name, const std::string& test_text,
                       const std::string& test_name) {
  const PairsOptions& o = options_;
  KILN_CHECK(o.validation >= 0.0 && o.validation <= 0.5, "pairs: validation = {} is outside [0, 0.5]", o.validation);
  std::vector<RawPair> train = parse_tsv(train_text, train_name, o);
  std::vector<RawPair> test;
  if (!test_name.empty()) {
    test = parse_tsv(test_text, test_name, o);
  } else {
    const auto n_test = static_cast<size_t>(static_cast<double>(train.size()) * o.validation + 0.5);
    test.assign(std::make_move_iterator(train.end() - static_cast<std::ptrdiff_t>(n_test)),
                std::make_move_iterator(train.end()));
    train.resize(train.size() - n_test);
  }
  auto too_long = [&](const RawPair& p) {
    const auto limit = static_cast<size_t>(o.max_length);
    return o.max_length > 0 && (p.source.size() > limit || p.target.size() > limit);
  };
  const size_t before = train.size() + test.size();
  std::erase_if(train, too_long);
  std::erase_if(test, too_long);
  skipped_ = static_cast<int64_t>(before - train.size() - test.size());
  KILN_CHECK(!train.empty(), "pairs: {} holds no training pair{}", train_name,
             skipped_ > 0 ? fmt::format(" of at most max_length = {} tokens a side", o.max_length) : "");

  std::vector<std::vector<std::string>> sources, targets;
  for (const RawPair& p : train) {
    sources.push_back(p.source);
    targets.push_back(p.target);
  }
  if (o.shared_vocabulary) {
    sources.insert(sources.end(), targets.begin(), targets.end());
    target_vocab_ = PairVocabulary::build(sources, o.max_vocab);
  } else {
    source_vocab_ = PairVocabulary::build(sources, o.max_vocab);
    target_vocab_ = PairVocabulary::build(targets, o.max_vocab);
  }
  train_pairs_ = static_cast<int64_t>(train.size());
  for (std::vector<RawPair>* split : {&train, &test}) {
    for (const RawPair& p : *split) {
      source_.push_back(source_vocabulary().encode(p.source));
      target_.push_back(target_vocab_.encode(p.target));
      source_steps_ = std::max(source_steps_, static_cast<int64_t>(p.source.size()));
      target_steps_ = std::max(target_steps_, static_cast<int64_t>(p.target.size()) + 1);
    }
  }
  if (o.max_length > 0) {  // a fixed sample shape, whatever the longest pair
    source_steps_ = o.max_length;
    target_steps_ = o.max_length + 1;
  }
}

// ---------------------------------------------------------------------------------------------

PairsDataset::PairsDataset(std::shared_ptr<const PairsCorpus> corpus, PairsSplit split) : corpus_(std::move(corpus)) {
  begin_ = split == PairsSplit::Train ? 0 : corpus_->train_pairs();
  size_ = split == PairsSplit::Train ? corpus_->train_pairs() : corpus_->pairs() - corpus_->train_pairs();
}

std::string PairsDataset::describe() const {
  const PairsCorpus& c = *corpus_;
  std::string vocab = c.shared() ? fmt::format("a shared vocabulary of {}", c.target_vocabulary().size())
                                 : fmt::format("vocabularies of {} (source) and {} (target)",
                                               c.source_vocabulary().size(), c.target_vocabulary().size());
  return fmt::format("pairs {}{}: {} pairs of {}, at most {} source and {} target tokens, {}{}", c.name(),
                     begin_ > 0 ? " (test)" : "", size_,
                     c.options().tokens == PairTokens::Words ? "words" : "characters", c.source_steps(),
                     c.target_steps() - 1, vocab,
                     c.skipped() > 0 ? fmt::format(", {} longer pairs left out", c.skipped()) : "");
}

void PairsDataset::get(int64_t, const SampleContext&, float*, int32_t*, float*) const {
  fail(fmt::format("{} holds token ids (int32): the model must start with an Embedding", describe()));
}

void PairsDataset::get_tokens(int64_t index, const SampleContext&, int32_t* x, int32_t* labels) const {
  std::vector<int32_t> decoder_input(static_cast<size_t>(decoder_length()));
  get_pair(index, x, decoder_input.data(), labels);
}

void PairsDataset::get_pair(int64_t index, int32_t* source, int32_t* decoder_input, int32_t* labels) const {
  KILN_CHECK(index >= 0 && index < size_, "sample {} is out of range for {}", index, describe());
  const std::vector<int32_t>& src = corpus_->source(begin_ + index);
  const std::vector<int32_t>& tgt = corpus_->target(begin_ + index);
  const int64_t S = corpus_->source_steps(), Y = corpus_->target_steps();
  const auto pad = static_cast<std::ptrdiff_t>(S - static_cast<int64_t>(src.size()));
  std::fill(source, source + pad, PairVocabulary::kPad);
  if (corpus_->options().reverse_source) std::reverse_copy(src.begin(), src.end(), source + pad);
  else std::copy(src.begin(), src.end(), source + pad);
  const auto n = static_cast<int64_t>(tgt.size());
  for (int64_t t = 0; t < Y; ++t) {
    decoder_input[t] = t == 0 ? PairVocabulary::kBos : t <= n ? tgt[static_cast<size_t>(t - 1)] : PairVocabulary::kPad;
    labels[t] = t < n ? tgt[static_cast<size_t>(t)] : t == n ? PairVocabulary::kEos : kIgnoreLabel;
  }
}

int64_t PairsDataset::sequence_length(int64_t index) const {
  return static_cast<int64_t>(corpus_->source(begin_ + index).size());
}

int64_t PairsDataset::target_length(int64_t index) const {
  return static_cast<int64_t>(corpus_->target(begin_ + index).size()) + 1;
}

Dataset::TokenVocabulary PairsDataset::token_vocabulary() const {
  const PairsCorpus& c = *corpus_;
  return {.kind = "pairs",
          .tokens = c.target_vocabulary().tokens(),
          .source_tokens = c.shared() ? std::vector<std::string>{} : c.source_vocabulary().tokens(),
          .tokenizer = c.options().tokens == PairTokens::Words ? "words" : "characters"};
}

std::vector<std::vector<int64_t>> PairsDataset::batch_plan(int64_t batch, uint64_t seed, int64_t epoch,
                                                           bool shuffle) const {
  if (!corpus_->options().bucket) return {};
  std::vector<int64_t> lengths(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) lengths[static_cast<size_t>(i)] = sequence_length(i) + target_length(i);
  return bucketed_batches(lengths, batch, seed, epoch, shuffle);
}

}  // namespace kiln::data
