// `kiln translate CONFIG --weights FILE [--beam K] [--max-length N] TEXT...`: outputs of a trained
// sequence-to-sequence model ([data] source = "pairs", core/data/pairs.h; models/seq2seq_dates.toml),
// one line per input. `--pairs FILE.tsv` instead translates every source of a TSV and reports the
// exact-match accuracy against its targets.
//
// Vocabulary. The one `kiln train` stored in the checkpoint (kind "pairs": the tokenizer and the
// source and target vocabularies), else rebuilt from the config's [data] files. Inputs are cut into
// tokens as the training sources were ([data] tokens, lower_case; reversed with reverse_source);
// tokens outside the source vocabulary read as <unk>.
//
// Decoding. The model is the config's layers without the loss, fed "data" (the source ids) and
// "decoder_input" (<bos> and the tokens chosen so far); the logits of the last position give the
// next token. Beam search keeps the K most probable hypotheses (sum of log-probabilities, no length
// penalty): each step extends every unfinished one by every token (<pad> and <bos> never), keeps the
// K best of those and of the finished ones, and stops when the K best have all ended with <eos> or
// after --max-length tokens; the best one is printed. K = 1 (the default) is greedy decoding. Each
// step runs the whole net on the prefix (the encoder too): simple and exact for any graph, at a
// cost that grows with the square of the output length, which suits the short outputs of such
// tasks.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/config/config.h"
#include "core/data/pairs.h"
#include "core/error.h"
#include "core/log.h"
#include "layers/registry.h"
#include "tools/commands.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_sources.h"

namespace kiln::cli {
namespace {

using data::PairVocabulary;

struct TranslateArgs {
  std::string config, weights, pairs, device = "cpu";
  std::vector<std::string> texts;
  int64_t beam = 1;
  int64_t max_length = 0;  // 0: the model's [model] input + 1
};

// How text maps to ids on each side, as in training.
struct PairCodec {
  data::PairsOptions options;
  PairVocabulary source, target;
  std::string joiner;  // "" between characters, " " between words
};

PairCodec make_codec(const RunConfig& config, const std::string& weights) {
  const TableReader r(config.data);
  KILN_CHECK(r.string("source", "") == "pairs",
             "{}: kiln translate needs a sequence-to-sequence model ([data] source = \"pairs\"), not source = \"{}\"",
             config.path, r.string("source", ""));
  data::Dataset::TokenVocabulary v = read_checkpoint_vocabulary(weights);
  std::string origin = weights;
  if (v.tokens.empty()) {
    log::info("'{}' holds no vocabulary: rebuilding it from the [data] files of {}", weights, config.path);
    origin = config.path;
    v = make_datasets(config).train->token_vocabulary();
  }
  KILN_CHECK(v.kind == "pairs", "'{}' holds a vocabulary of {}, not of sequence-to-sequence pairs", origin, v.kind);
  PairCodec c;
  c.options.tokens = v.tokenizer == "words" ? data::PairTokens::Words : data::PairTokens::Characters;
  c.options.lower_case = r.boolean("lower_case", false);
  c.options.reverse_source = r.boolean("reverse_source", false);
  c.target = PairVocabulary::from_tokens(v.tokens, origin);
  c.source = v.source_tokens.empty() ? c.target : PairVocabulary::from_tokens(v.source_tokens, origin);
  c.joiner = v.tokenizer == "words" ? " " : "";
  return c;
}

// The config's layers without the loss; returns the logits' name (the loss's first input).
std::string build_inference_net(const RunConfig& config, Net& net) {
  net.add_input("data", DType::I32);
  net.add_input("decoder_input", DType::I32);
  std::string previous = "data", logits;
  for (const LayerSpec& spec : config.layers) {
    std::unique_ptr<Layer> layer = layers::make_layer(spec);
    if (layer->is_loss()) {
      logits = spec.inputs.empty() ? previous : spec.inputs.front();
      break;
    }
    net.add(std::move(layer), spec.inputs.empty() ? std::vector<std::string>{previous} : spec.inputs);
    previous = spec.name;
  }
  KILN_CHECK(!logits.empty(), "{}: the model has no loss layer, so no output to decode", config.path);
  return logits;
}

struct Hypothesis {
  std::vector<int32_t> ids;  // <bos> first
  double log_prob = 0;
  bool finished = false;
};

class Translator {
 public:
  Translator(const RunConfig& config, const TranslateArgs& a) : codec_(make_codec(config, a.weights)), net_(select_device(a.device)) {
    logits_ = build_inference_net(config, net_);
    beam_ = a.beam;
    max_length_ = a.max_length > 0 ? a.max_length : config.input.at(0) + 1;
    net_.setup({{"data", Shape{1, 1}}, {"decoder_input", Shape{1, 1}}});
    const Shape& out = net_.shape_of(logits_);
    classes_ = out[out.rank() - 1];
    KILN_CHECK(classes_ >= codec_.target.size(), "{}: the model's output '{}' has {} classes, the target vocabulary {}",
               config.path, logits_, classes_, codec_.target.size());
    load_weights(a.weights, net_);
    net_.set_training(false);
    net_.keep(logits_);
  }

  const PairCodec& codec() const { return codec_; }

  // The best output's ids (without <bos> and <eos>) for the source tokens.
  std::vector<int32_t> translate(const std::vector<std::string>& tokens) {
    std::vector<int32_t> src = codec_.source.encode(tokens);
    KILN_CHECK(!src.empty(), "kiln translate: an empty input has nothing to translate");
    if (codec_.options.reverse_source) std::reverse(src.begin(), src.end());
    std::vector<Hypothesis> beams{{{PairVocabulary::kBos}, 0.0, false}};
    for (int64_t step = 0; step < max_length_; ++step) {
      std::vector<const Hypothesis*> active;
      for (const Hypothesis& h : beams)
        if (!h.finished) active.push_back(&h);
      if (active.empty()) break;
      const std::vector<std::vector<double>> log_probs = next_log_probs(src, active);
      std::vector<Hypothesis> candidates;
      for (const Hypothesis& h : beams)
        if (h.finished) candidates.push_back(h);
      for (size_t b = 0; b < active.size(); ++b) {
        for (int32_t v = 0; v < codec_.target.size(); ++v) {
          if (v == PairVocabulary::kPad || v == PairVocabulary::kBos) continue;
          Hypothesis next = *active[b];
          next.ids.push_back(v);
          next.log_prob += log_probs[b][static_cast<size_t>(v)];
          next.finished = v == PairVocabulary::kEos;
          candidates.push_back(std::move(next));
        }
      }
      const size_t keep = std::min(candidates.size(), static_cast<size_t>(beam_));
      std::stable_sort(candidates.begin(), candidates.end(),
                       [](const Hypothesis& x, const Hypothesis& y) { return x.log_prob > y.log_prob; });
      candidates.resize(keep);
      beams = std::move(candidates);
    }
    std::vector<int32_t> out(beams.front().ids.begin() + 1, beams.front().ids.end());
    if (!out.empty() && out.back() == PairVocabulary::kEos) out.pop_back();
    return out;
  }

 private:
  // log softmax of the next-token logits of each active hypothesis (one row each).
  std::vector<std::vector<double>> next_log_probs(const std::vector<int32_t>& src,
                                                  const std::vector<const Hypothesis*>& active) {
    const auto rows = static_cast<int64_t>(active.size()), s = static_cast<int64_t>(src.size());
    const auto t = static_cast<int64_t>(active.front()->ids.size());
    std::vector<int32_t> x, d;
    for (const Hypothesis* h : active) {
      x.insert(x.end(), src.begin(), src.end());
      d.insert(d.end(), h->ids.begin(), h->ids.end());
    }
    const Tensor xs = Tensor::from_host(std::span<const int32_t>(x), Shape{rows, s}, net_.device());
    const Tensor ds = Tensor::from_host(std::span<const int32_t>(d), Shape{rows, t}, net_.device());
    net_.forward({{"data", &xs}, {"decoder_input", &ds}});
    const Tensor& logits = net_.output(logits_);
    KILN_CHECK(logits.numel() == rows * t * classes_,
               "kiln translate: the model's output '{}' is {}, not one row of {} logits per decoder position ({} x {})",
               logits_, logits.shape().str(), classes_, rows, t);
    const std::vector<float> all = logits.to_host();
    std::vector<std::vector<double>> out;
    for (int64_t b = 0; b < rows; ++b) {
      const float* row = all.data() + ((b * t) + t - 1) * classes_;
      const double top = *std::max_element(row, row + classes_);
      double sum = 0;
      for (int64_t v = 0; v < classes_; ++v) sum += std::exp(static_cast<double>(row[v]) - top);
      std::vector<double> lp(static_cast<size_t>(classes_));
      for (int64_t v = 0; v < classes_; ++v) lp[static_cast<size_t>(v)] = row[v] - top - std::log(sum);
      out.push_back(std::move(lp));
    }
    return out;
  }

  PairCodec codec_;
  Net net_;
  std::string logits_;
  int64_t beam_ = 1, max_length_ = 0, classes_ = 0;
};

std::string joined(const std::vector<std::string>& tokens, const std::string& joiner) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) out += (i ? joiner : "") + tokens[i];
  return out;
}

// Translates every source of a TSV; prints the exact-match accuracy (and the first misses). An output
// matches when its tokens are the target's (a target token outside the vocabulary never matches).
int evaluate_pairs(Translator& t, const std::string& path) {
  const std::vector<data::TokenPair> pairs = data::read_token_pairs(path, t.codec().options);
  const std::string& joiner = t.codec().joiner;
  int64_t exact = 0, shown = 0;
  for (const data::TokenPair& p : pairs) {
    const std::string output = t.codec().target.decode(t.translate(p.source), joiner);
    const std::string target = joined(p.target, joiner);
    if (output == target) {
      ++exact;
    } else if (shown++ < 5) {
      fmt::print("miss: {}\t{}\t(expected {})\n", joined(p.source, joiner), output, target);
    }
  }
  const auto n = static_cast<int64_t>(pairs.size());
  fmt::print("exact match: {} of {} ({:.1f}%)\n", exact, n,
             100.0 * static_cast<double>(exact) / static_cast<double>(std::max<int64_t>(n, 1)));
  return 0;
}

int run_translate(const TranslateArgs& a) {
  const RunConfig config = load_config(a.config);
  KILN_CHECK(a.pairs.empty() != a.texts.empty(), "kiln translate: give either TEXT... or --pairs FILE.tsv{}",
             a.pairs.empty() ? " (nothing to translate)" : ", not both");
  Translator t(config, a);
  if (!a.pairs.empty()) return evaluate_pairs(t, a.pairs);
  for (const std::string& text : a.texts) {
    const std::vector<int32_t> out = t.translate(data::tokenize_pair_side(text, t.codec().options));
    fmt::print("{}\n", t.codec().target.decode(out, t.codec().joiner));
  }
  return 0;
}

}  // namespace

void add_translate_command(CLI::App& app, Action* action) {
  auto args = std::make_shared<TranslateArgs>();
  CLI::App* cmd = app.add_subcommand("translate", "Decode with a trained sequence-to-sequence model (greedy or beam search)");
  cmd->add_option("config", args->config, "Model config (TOML) with [data] source = \"pairs\"")->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("texts", args->texts, "Source texts, one output line each");
  cmd->add_option("--weights", args->weights, "Parameters (a kiln checkpoint, which holds the vocabularies too)")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--beam", args->beam, "Beam width; 1: greedy")->capture_default_str()->check(integer_in(1, 1000));
  cmd->add_option("--max-length", args->max_length, "Most output tokens (default: [model] input + 1)")
      ->check(integer_in(1, 100000));
  cmd->add_option("--pairs", args->pairs, "Translate a TSV's sources and report the exact-match accuracy");
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return run_translate(*args); }; });
}

}  // namespace kiln::cli
