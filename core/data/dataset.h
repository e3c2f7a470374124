// kiln::data::Dataset: random access to the samples kiln trains from, and the image transforms
// the sources share.
//
// A dataset has size() samples of one fixed shape, (C, H, W) for images or (F) for feature
// vectors, each with an int32 class label (Task::Classification) or target_dim() float targets
// (Task::Regression). get() is const and thread-safe: the DataLoader calls it from its worker
// threads concurrently.
//
// Determinism. Everything random about a sample (crop offset, flip) is drawn from Philox keyed by
// (seed, epoch, sample index) through SampleContext::random(), never from a per-thread generator,
// so a batch has the same contents whichever thread builds it, on any machine.
//
// Token data (language models, core/data/text.h). A dataset whose input_dtype() is I32 serves
// int32 ids instead of floats, through get_tokens(), and may carry one label per position
// (labels_per_sample() > 1: the next-token targets of a sequence). Image and feature sources keep
// the defaults (F32 input through get(), one label per sample) and need not know about this.
//
// Drawing order. Most datasets hold independent samples that the DataLoader may draw in any order.
// Two optional hooks change that, both off by default:
//   streams() > 0   the samples continue each other (truncated back-propagation through time):
//                   they must be drawn in index order in batches of exactly streams() samples;
//   batch_plan()    the dataset groups its samples into batches itself (length bucketing of
//                   variable-length sequences, with sequence_length() saying how long each is).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/philox.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace kiln::data {

enum class Task : uint8_t { Classification, Regression };

// The label of a position that does not count (sequence padding): SoftmaxCrossEntropy's default
// ignore_label, left out of the loss and the accuracy.
constexpr int32_t kIgnoreLabel = -100;

// What the loader tells a dataset about one draw of a sample.
struct SampleContext {
  uint64_t seed = 0;
  int64_t epoch = 0;
  bool train = true;  // random augmentation; false: the deterministic evaluation transform

  // 4 random words for sample `index` in this epoch; `stream` separates independent uses.
  Philox4x32 random(int64_t index, uint32_t stream = 0) const;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  // (C, H, W) or (F).
  virtual Shape sample_shape() const = 0;
  virtual Task task() const { return Task::Classification; }
  // Classes of the labels (labels are 0 .. num_classes-1); 0 for regression.
  virtual int num_classes() const = 0;
  // Floats per regression target; 0 for classification.
  virtual int target_dim() const { return 0; }
  // One line for logs: "IDX train-images-idx3-ubyte.gz: 60000 x (1, 28, 28), 10 classes".
  virtual std::string describe() const = 0;

  // Writes sample `index` (0 <= index < size()) to `x` (sample_shape().numel() floats) and its
  // label to *label (classification; label may be null otherwise) or its targets to `target`
  // (target_dim() floats; regression). Thread-safe. Throws kiln::Error naming the file on bad data.
  virtual void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
                   float* target) const = 0;

  // F32 (get()) or I32 (token ids, get_tokens()).
  virtual DType input_dtype() const { return DType::F32; }
  // Class labels per sample: 1, or sample_shape().numel() for sequence data (one per position).
  virtual int64_t labels_per_sample() const { return 1; }
  // Token data: writes sample `index`'s ids (sample_shape().numel() int32) to `x` and its
  // labels_per_sample() labels to `labels`. Thread-safe. The default throws (not token data).
  virtual void get_tokens(int64_t index, const SampleContext& ctx, int32_t* x, int32_t* labels) const;

  // Token data: what each id stands for, in id order, so a checkpoint can carry it and `kiln
  // sample` can decode without the training text. kind "characters" (each token one character,
  // UTF-8) or "words" (<pad> <unk> <eos> first; text joins them with spaces). Empty otherwise.
  // kind "pairs" (core/data/pairs.h): a sequence-to-sequence model's, tokens = the target side's
  // (<pad> <unk> <bos> <eos> first), source_tokens = the source side's (empty: shared), tokenizer
  // "characters" or "words" (how `kiln translate` cuts its input).
  struct TokenVocabulary {
    std::string kind;
    std::vector<std::string> tokens;
    std::vector<std::string> source_tokens = {};
    std::string tokenizer = {};
  };
  virtual TokenVocabulary token_vocabulary() const { return {}; }
  // Token data: the entropy (nats per token) of the training labels' distribution, the loss of
  // the best model that ignores context (the unigram baseline a language model must beat); < 0:
  // not known.
  virtual double unigram_entropy() const { return -1.0; }

  // Stream data: S > 0 when the samples are S interleaved streams, sample i being chunk i / S of
  // stream i % S, so that row s of batch b continues row s of batch b - 1 (a stateful recurrent
  // layer carries its state across them). size() is a multiple of S. The DataLoader draws such a
  // dataset in index order in batches of exactly S, never shuffled. 0 (the default): independent
  // samples.
  virtual int64_t streams() const { return 0; }

  // The batches of one epoch as the dataset wants them drawn: lists of at most `batch` sample
  // indices, every index exactly once, ceil(size() / batch) lists of which at most one is shorter
  // than `batch`. A function of its arguments only (so a loader position names the same batch on
  // resume); `shuffle` false asks for a fixed order (evaluation). Empty (the default): no plan,
  // the DataLoader cuts its own (shuffled) order into batches. A planned batch of token sequences
  // is trimmed to its longest sample (DataLoader, loader.h).
  virtual std::vector<std::vector<int64_t>> batch_plan(int64_t batch, uint64_t seed, int64_t epoch,
                                                       bool shuffle) const;
  // Sequence-to-sequence data (pairs, core/data/pairs.h): Y > 0 when each sample is a source
  // sequence (x, sample_shape() = (S), left-padded) and a target side of Y positions, decoder inputs
  // (teacher forcing) and labels, both right-padded; get_pair() writes the three (S, Y, Y int32),
  // target_length() says how many target positions hold tokens. The DataLoader then adds decoder
  // inputs to the batch and trims it (loader.h). 0 (the default): not pairs.
  virtual int64_t decoder_length() const { return 0; }
  virtual void get_pair(int64_t index, int32_t* source, int32_t* decoder_input, int32_t* labels) const;
  virtual int64_t target_length(int64_t /*index*/) const { return decoder_length(); }
  // Token sequences: the positions of sample `index` that hold tokens (the rest is padding with
  // kIgnoreLabel labels); the default is the whole sample_shape().numel().
  virtual int64_t sequence_length(int64_t /*index*/) const { return sample_shape().numel(); }
};

// Samples [begin, end) of another dataset (a validation split, a quick subset).
std::shared_ptr<const Dataset> subset(std::shared_ptr<const Dataset> base, int64_t begin, int64_t end);

// ---------------------------------------------------------------------------------------------
// Image transforms shared by the image sources.

// Per-channel normalisation of pixels scaled to [0, 1]: (x - mean) / std. Empty: none. One value
// applies to every channel; otherwise one value per channel.
struct Normalize {
  std::vector<float> mean{}, std{};
};

// Augmentation of an image: optional zero padding (in pixel space, before normalisation), a square
// crop, a horizontal flip. In training (SampleContext::train) the crop offset is random and the
// flip happens with probability 1/2; in evaluation the crop is centred and nothing flips.
struct Augment {
  int pad = 0;               // pixels added on each side before cropping (CIFAR: 4)
  int crop = 0;              // side of the square crop; 0 = the (padded) image size
  bool random_crop = false;  // training: random crop offset (else centred)
  bool hflip = false;        // training: flip left-right with probability 1/2
  bool active() const { return pad > 0 || crop > 0 || hflip; }
};

namespace detail {

// value = pixel * scale[c] + bias[c]: scaling to [0, 1] and normalisation in one step.
struct PixelMap {
  std::vector<float> scale, bias;
};
// Checks `norm` against `channels` ("what" names the source for the message).
PixelMap make_pixel_map(int channels, const Normalize& norm, const std::string& what);

// Where a transformed image comes from in its (padded) source.
struct CropPlan {
  int out_h = 0, out_w = 0;  // output size
  int y0 = 0, x0 = 0;        // top-left of the crop in padded source coordinates
  int pad = 0;
  bool flip = false;
};
// The crop of an h x w source under `aug`, drawn for sample `index` in `ctx`. Throws if the crop
// does not fit ("what" names the source).
CropPlan plan_crop(const Augment& aug, int h, int w, const SampleContext& ctx, int64_t index,
                   const std::string& what);
// Output size of an h x w source under `aug`.
void augmented_size(const Augment& aug, int h, int w, int* out_h, int* out_w);

// Applies the plan and the pixel map to 8-bit pixels, writing (C, out_h, out_w) floats.
// `hwc`: the source is interleaved (H, W, C) (decoded JPEG) rather than planar (C, H, W).
void transform_u8(const uint8_t* src, bool hwc, int channels, int h, int w, const CropPlan& plan,
                  const PixelMap& map, float* out);

}  // namespace detail
}  // namespace kiln::data
