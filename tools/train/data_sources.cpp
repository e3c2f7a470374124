#include "tools/train/data_sources.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <iterator>
#include <set>

#include "core/data/data.h"
#include "core/data/pairs.h"
#include "core/data/reconstruction.h"
#include "core/data/words.h"
#include "core/error.h"

namespace kiln {
namespace {

// Bounds of the [data] integers, checked before narrowing to int: no value wraps.
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxPad = 1024;        // pixels of padding on each side
constexpr int64_t kMaxSide = 65536;      // crop and resize sides, in pixels
constexpr int64_t kMaxWorkers = 256;     // loader threads (DataLoader's limit)

// Every key of the section must be one this source reads.
void reject_unknown(const ConfigTable& table, const std::string& source, std::set<std::string> known) {
  known.insert({"source", "workers"});
  for (const auto& [key, value] : table.values) {
    if (!known.count(key)) {
      TableReader(table).fail_key(key, fmt::format("is not a key of source = \"{}\" (known: {})", source,
                                                   fmt::join(known, ", ")));
    }
  }
}

std::vector<float> floats(const TableReader& r, const std::string& key) {
  std::vector<float> out;
  for (double v : r.numbers(key)) out.push_back(static_cast<float>(v));
  return out;
}

data::Normalize normalize(const TableReader& r) { return {floats(r, "mean"), floats(r, "std")}; }

data::Augment augment(const TableReader& r) {
  data::Augment a;
  a.pad = static_cast<int>(r.integer("pad", 0, 0, kMaxPad));
  a.crop = static_cast<int>(r.integer("crop", 0, 0, kMaxSide));
  a.hflip = r.boolean("hflip", false);
  a.random_crop = a.crop > 0;
  return a;
}

std::vector<std::string> strings(const ConfigTable& t, const std::string& key) {
  auto it = t.values.find(key);
  if (it == t.values.end()) return {};
  if (auto v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
  if (auto s = std::get_if<std::string>(&it->second)) return {*s};
  TableReader(t).fail_key(key, "must be a file name or a list of file names");
}

// The text source laid out in streams (text.h): batch streams for training, eval_batch for
// validation; a batch that does not fit a split is an error naming the key to lower.
void make_text_streams(const RunConfig& config, const std::shared_ptr<const data::TextCorpus>& corpus, int64_t batch,
                       int64_t eval_batch, DataSplits* d) {
  const int64_t T = config.input[0];
  auto fits = [&](int64_t ids, int64_t streams, const char* split, const char* key) {
    if (streams <= data::TextDataset::max_streams(ids, T)) return;
    fail(fmt::format("{}: [data] streams = true cuts the {} split ({} characters) into {} = {} streams of at least "
                     "T + 1 = {} characters each: lower [train] {} to at most {} (or [model] input)", config.path,
                     split, ids, key, streams, T + 1, key, data::TextDataset::max_streams(ids, T)));
  };
  const int64_t n = static_cast<int64_t>(corpus->ids().size());
  fits(corpus->train_end(), batch, "training", "batch");
  d->train = std::make_shared<data::TextDataset>(corpus, data::TextSplit::Train, T, batch);
  if (corpus->train_end() == n) return;
  fits(n - corpus->train_end(), eval_batch, "validation", "eval_batch");
  d->test = std::make_shared<data::TextDataset>(corpus, data::TextSplit::Validation, T, eval_batch);
}

// What every source's opener reads: the config, its [data] table and the batch sizes in effect.
struct SourceContext {
  const RunConfig& config;
  const TableReader& reader;
  int classes;
  int64_t batch, eval_batch;
};

// source = "idx": IDX files (MNIST, Fashion-MNIST), core/data/idx.h.
void open_idx(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  const int classes = c.classes;
  reject_unknown(t, "idx", {"target", "train_images", "train_labels", "test_images", "test_labels", "mean", "std"});
  data::IdxOptions o;
  o.normalize = normalize(r);
  o.num_classes = classes;
  d.train = std::make_shared<data::IdxDataset>(r.required_string("train_images"), r.required_string("train_labels"), o);
  if (r.has("test_images")) {
    d.test = std::make_shared<data::IdxDataset>(r.required_string("test_images"), r.required_string("test_labels"), o);
  }
}

// source = "cifar": CIFAR-10/100 binary batches, core/data/cifar.h.
void open_cifar(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  reject_unknown(t, "cifar", {"target", "train_files", "test_files", "kind", "mean", "std", "pad", "crop", "hflip"});
  data::CifarOptions o;
  const std::string kind = r.string("kind", "cifar10");
  if (kind == "cifar10") o.kind = data::CifarKind::Cifar10;
  else if (kind == "cifar100") o.kind = data::CifarKind::Cifar100Fine;
  else if (kind == "cifar100_coarse") o.kind = data::CifarKind::Cifar100Coarse;
  else r.fail_key("kind", fmt::format("must be cifar10, cifar100 or cifar100_coarse, got \"{}\"", kind));
  o.normalize = normalize(r);
  o.augment = augment(r);
  d.train = std::make_shared<data::CifarDataset>(strings(t, "train_files"), o);
  o.augment.random_crop = false;
  o.augment.hflip = false;
  if (r.has("test_files")) d.test = std::make_shared<data::CifarDataset>(strings(t, "test_files"), o);
}

// source = "folder": A folder of JPEG images, one subfolder per class, core/data/image_folder.h.
void open_folder(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  reject_unknown(t, "folder", {"target", "train_dir", "test_dir", "resize", "crop", "hflip", "mean", "std", "max_image_pixels"});
  data::ImageFolderOptions o;
  o.resize = static_cast<int>(r.integer("resize", 0, 0, kMaxSide));
  o.max_image_pixels =
      r.integer("max_image_pixels", data::kDefaultMaxImagePixels, 1, std::numeric_limits<int64_t>::max());
  o.augment = augment(r);
  o.normalize = normalize(r);
  d.train = std::make_shared<data::ImageFolderDataset>(r.required_string("train_dir"), o);
  o.augment.random_crop = false;
  o.augment.hflip = false;
  if (r.has("test_dir")) d.test = std::make_shared<data::ImageFolderDataset>(r.required_string("test_dir"), o);
}

// source = "csv": A CSV table of numbers, core/data/csv.h.
void open_csv(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  const int classes = c.classes;
  reject_unknown(t, "csv", {"target", "train_file", "test_file", "label_column", "label_name", "task", "target_columns", "standardize"});
  data::CsvOptions o;
  const std::string task = r.string("task", "classification");
  if (task == "regression") o.task = data::Task::Regression;
  else if (task != "classification") r.fail_key("task", fmt::format("must be classification or regression, got \"{}\"", task));
  o.label_column = static_cast<int>(r.integer("label_column", -1, -1, kMaxInt));
  o.label_name = r.string("label_name");
  for (double c : r.numbers("target_columns")) {
    if (c != std::floor(c) || c < 0 || c > kMaxInt) {
      r.fail_key("target_columns", fmt::format("must be column numbers from 0 to {}, got {}", kMaxInt, c));
    }
    o.target_columns.push_back(static_cast<int>(c));
  }
  o.standardize = r.boolean("standardize", false);
  o.num_classes = classes;
  auto train = std::make_shared<data::CsvDataset>(r.required_string("train_file"), o);
  if (o.standardize) {  // the test set is standardised with the training statistics
    o.mean = train->feature_mean();
    o.std = train->feature_std();
  }
  d.train = train;
  if (r.has("test_file")) d.test = std::make_shared<data::CsvDataset>(r.required_string("test_file"), o);
}

// source = "synthetic": Random samples of the model's input shape (benchmarks, smoke tests), core/data/synthetic.h.
void open_synthetic(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  const int classes = c.classes;
  reject_unknown(t, "synthetic", {"size", "test_size", "seed"});
  data::SyntheticOptions o;
  o.size = r.integer("size", 1024, 1, kMaxInt);
  o.sample_shape = Shape(config.input.begin(), config.input.end());
  o.num_classes = classes > 0 ? classes : 10;
  o.seed = static_cast<uint64_t>(r.integer("seed", 0, 0, std::numeric_limits<int64_t>::max() - 1));
  d.train = std::make_shared<data::SyntheticDataset>(o);
  const int64_t test_size = r.integer("test_size", 0, 0, kMaxInt);
  if (test_size > 0) {
    o.size = test_size;
    o.seed += 1;
    d.test = std::make_shared<data::SyntheticDataset>(o);
  }
}

// source = "text": Characters of text files (language models), core/data/text.h.
void open_text(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  const int classes = c.classes;
  reject_unknown(t, "text", {"files", "validation", "max_vocab", "max_chars", "streams"});
  KILN_CHECK(config.input.size() == 1, "{}: source = \"text\" needs [model] input = [T] (the sequence length)",
             config.path);
  KILN_CHECK(classes > 0, "{}: source = \"text\" needs [model] classes = the vocabulary size (at least the number "
             "of distinct characters; the embedding and the output layer are that wide)", config.path);
  data::TextOptions o;
  o.validation = r.number("validation", 0.05);
  if (o.validation < 0 || o.validation > 0.5) r.fail_key("validation", "must be a fraction in [0, 0.5]");
  o.max_vocab = static_cast<int>(r.integer("max_vocab", classes, 0, kMaxInt));
  o.max_chars = r.integer("max_chars", 0, 0, std::numeric_limits<int64_t>::max());
  if (!r.has("files")) r.fail_key("source", "text needs files = [...] (text files or folders of them)");
  auto corpus = std::make_shared<const data::TextCorpus>(strings(t, "files"), o);
  if (r.boolean("streams", false)) {
    make_text_streams(config, corpus, c.batch, c.eval_batch, &d);
  } else {
    d.train = std::make_shared<data::TextDataset>(corpus, data::TextSplit::Train, config.input[0]);
    if (corpus->train_end() < static_cast<int64_t>(corpus->ids().size())) {
      d.test = std::make_shared<data::TextDataset>(corpus, data::TextSplit::Validation, config.input[0]);
    }
  }
}

// source = "words": Words of text files in lines or sentences (language models), core/data/words.h.
void open_words(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const ConfigTable& t = config.data;
  const TableReader& r = c.reader;
  const int classes = c.classes;
  reject_unknown(t, "words", {"files", "validation", "max_vocab", "max_words", "lower_case", "split", "bucket"});
  KILN_CHECK(config.input.size() == 1, "{}: source = \"words\" needs [model] input = [T] (the sequence length)",
             config.path);
  KILN_CHECK(classes > 0, "{}: source = \"words\" needs [model] classes = the vocabulary size (the most frequent "
             "words + <pad> <unk> <eos>; the embedding and the output layer are that wide)", config.path);
  data::WordOptions o;
  o.seq_len = config.input[0];
  o.validation = r.number("validation", 0.05);
  if (o.validation < 0 || o.validation > 0.5) r.fail_key("validation", "must be a fraction in [0, 0.5]");
  o.max_vocab = static_cast<int>(r.integer("max_vocab", classes, 0, kMaxInt));
  if (o.max_vocab < 4) r.fail_key("max_vocab", "must be at least 4 (<pad> <unk> <eos> and one word)");
  o.max_words = r.integer("max_words", 0, 0, std::numeric_limits<int64_t>::max());
  o.lower_case = r.boolean("lower_case", true);
  o.bucket = r.boolean("bucket", true);
  const std::string split = r.string("split", "lines");
  if (split == "sentences") o.split = data::WordSplit::Sentences;
  else if (split != "lines") r.fail_key("split", fmt::format("must be lines or sentences, got \"{}\"", split));
  if (!r.has("files")) r.fail_key("source", "words needs files = [...] (text files or folders of them)");
  auto corpus = std::make_shared<const data::WordCorpus>(strings(t, "files"), o);
  d.train = std::make_shared<data::WordDataset>(corpus, data::TextSplit::Train);
  if (corpus->train_pieces() < corpus->pieces()) {
    d.test = std::make_shared<data::WordDataset>(corpus, data::TextSplit::Validation);
  }
}

// source = "pairs": sequence-to-sequence pairs from a TSV, core/data/pairs.h.
void open_pairs(const SourceContext& c, DataSplits& d) {
  const RunConfig& config = c.config;
  const TableReader& r = c.reader;
  reject_unknown(config.data, "pairs", {"train_file", "test_file", "validation", "tokens", "lower_case",
                                        "shared_vocabulary", "max_vocab", "reverse_source", "bucket"});
  KILN_CHECK(config.input.size() == 1,
             "{}: source = \"pairs\" needs [model] input = [L] (the longest source or target in tokens)", config.path);
  KILN_CHECK(c.classes > 0, "{}: source = \"pairs\" needs [model] classes = the target vocabulary's size (the most "
             "frequent tokens + <pad> <unk> <bos> <eos>; the decoder's output layer is that wide)", config.path);
  data::PairsOptions o;
  o.max_length = config.input[0];
  o.validation = r.number("validation", 0.1);
  if (o.validation < 0 || o.validation > 0.5) r.fail_key("validation", "must be a fraction in [0, 0.5]");
  o.max_vocab = static_cast<int>(r.integer("max_vocab", c.classes, 0, kMaxInt));
  if (o.max_vocab < 5) r.fail_key("max_vocab", "must be at least 5 (<pad> <unk> <bos> <eos> and one token)");
  const std::string tokens = r.string("tokens", "characters");
  if (tokens == "words") o.tokens = data::PairTokens::Words;
  else if (tokens != "characters") r.fail_key("tokens", fmt::format("must be characters or words, got \"{}\"", tokens));
  o.lower_case = r.boolean("lower_case", false);
  o.shared_vocabulary = r.boolean("shared_vocabulary", true);
  o.reverse_source = r.boolean("reverse_source", false);
  o.bucket = r.boolean("bucket", true);
  const std::string train = r.required_string("train_file");
  auto corpus = std::make_shared<const data::PairsCorpus>(train, r.string("test_file", ""), o);
  d.train = std::make_shared<data::PairsDataset>(corpus, data::PairsSplit::Train);
  if (corpus->train_pairs() < corpus->pairs()) d.test = std::make_shared<data::PairsDataset>(corpus, data::PairsSplit::Test);
}

// The data sources by their [data] source name.
struct Source {
  const char* name;
  void (*open)(const SourceContext&, DataSplits&);
};
constexpr Source kSources[] = {{"idx", open_idx},           {"cifar", open_cifar}, {"folder", open_folder},
                               {"csv", open_csv},           {"synthetic", open_synthetic},
                               {"text", open_text},         {"words", open_words},
                               {"pairs", open_pairs}};

// The data must fit the model: sample shape, and no more classes than the model outputs.
void check_fits_model(const RunConfig& config, const DataSplits& d) {
  const int classes = static_cast<int>(config.classes);
  const Shape want(config.input.begin(), config.input.end());
  for (const auto* ds : {d.train.get(), d.test.get()}) {
    if (!ds) continue;
    if (!(ds->sample_shape() == want)) {
      fail(fmt::format("{}: [model] input = {} but the data ({}) has samples of shape {}", config.path, want.str(),
                       ds->describe(), ds->sample_shape().str()));
    }
    if (classes > 0 && ds->task() == data::Task::Classification && ds->num_classes() > classes) {
      fail(fmt::format("{}: [model] classes = {} but the data ({}) has {} classes", config.path, classes,
                       ds->describe(), ds->num_classes()));
    }
  }
}

// [data] target of the image and CSV sources: "label" (false) or "input" (true: autoencoders),
// checked before any file is read. Other sources do not know the key (reject_unknown says so).
bool input_is_target(const TableReader& r, const std::string& source) {
  if (source != "idx" && source != "cifar" && source != "folder" && source != "csv") return false;
  const std::string target = r.string("target", "label");
  if (target == "label") return false;
  if (target != "input") r.fail_key("target", fmt::format("must be label or input, got \"{}\"", target));
  if (source == "csv" && r.string("task", "classification") == "regression") {
    r.fail_key("target", "= \"input\" reconstructs the CSV's features: leave out task = \"regression\" (the target "
                         "columns are not used)");
  }
  return true;
}

// target = "input": both splits serve their input as the targets (core/data/reconstruction.h);
// the image sources' targets are the pixels before normalisation.
void use_input_as_target(const TableReader& r, const std::string& source, DataSplits& d) {
  const bool images = source != "csv";
  const data::Normalize norm = images ? normalize(r) : data::Normalize{};
  for (auto* split : {&d.train, &d.test}) {
    if (*split) *split = std::make_shared<data::ReconstructionDataset>(*split, norm, images);
  }
}

}  // namespace

bool float_targets(const RunConfig& config) {
  const TableReader r(config.data);
  const std::string source = r.string("source", "");
  const bool images_or_csv = source == "idx" || source == "cifar" || source == "folder" || source == "csv";
  return r.string("task", "classification") == "regression" ||
         (images_or_csv && r.string("target", "label") == "input");
}

DataSplits make_datasets(const RunConfig& config, int64_t batch, int64_t eval_batch) {
  const ConfigTable& t = config.data;
  if (batch <= 0) batch = config.train.batch;
  if (eval_batch <= 0) eval_batch = config.train.eval_batch > 0 ? config.train.eval_batch : batch;
  const TableReader r(t);
  if (t.values.empty()) fail(fmt::format("{}: missing [data] section (source = \"idx\", ...)", config.path));
  const std::string source = r.required_string("source");
  DataSplits d;
  d.workers = static_cast<int>(r.integer("workers", 2, 0, kMaxWorkers));
  const SourceContext context{config, r, static_cast<int>(config.classes), batch, eval_batch};
  const auto known = std::find_if(std::begin(kSources), std::end(kSources),
                                  [&](const Source& s) { return source == s.name; });
  if (known == std::end(kSources)) {
    r.fail_key("source", fmt::format("must be idx, cifar, folder, csv, synthetic, text, words or pairs, got \"{}\"", source));
  }
  const bool input_target = input_is_target(r, source);
  known->open(context, d);
  if (input_target) use_input_as_target(r, source, d);
  check_fits_model(config, d);
  return d;
}

}  // namespace kiln
