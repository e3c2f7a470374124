#include "core/data/dataset.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace kiln::data {

namespace {
constexpr uint32_t kAugmentTag = 0x61756731u;  // "aug1": word 3 of the augmentation counter
}

Philox4x32 SampleContext::random(int64_t index, uint32_t stream) const {
  const uint64_t i = static_cast<uint64_t>(index);
  const uint64_t e = static_cast<uint64_t>(epoch);
  const Philox4x32 ctr{{static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32),
                        static_cast<uint32_t>(e) ^ (static_cast<uint32_t>(e >> 32) * 0x9E3779B9u),
                        kAugmentTag + stream}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

void Dataset::get_tokens(int64_t, const SampleContext&, int32_t*, int32_t*) const {
  fail(fmt::format("{} holds {} samples, not token ids", describe(),
                   input_dtype() == DType::F32 ? "float" : "int32"));
}

void Dataset::get_pair(int64_t, int32_t*, int32_t*, int32_t*) const {
  fail(fmt::format("{} holds no sequence-to-sequence pairs", describe()));
}

std::vector<std::vector<int64_t>> Dataset::batch_plan(int64_t, uint64_t, int64_t, bool) const { return {}; }

// ---------------------------------------------------------------------------------------------

namespace {
class Subset final : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, int64_t begin, int64_t end)
      : base_(std::move(base)), begin_(begin), end_(end) {}
  int64_t size() const override { return end_ - begin_; }
  Shape sample_shape() const override { return base_->sample_shape(); }
  Task task() const override { return base_->task(); }
  int num_classes() const override { return base_->num_classes(); }
  int target_dim() const override { return base_->target_dim(); }
  std::string describe() const override {
    return fmt::format("samples [{}, {}) of {}", begin_, end_, base_->describe());
  }
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override {
    KILN_CHECK(index >= 0 && index < size(), "sample {} is out of range for {}", index, describe());
    base_->get(begin_ + index, ctx, x, label, target);
  }
  DType input_dtype() const override { return base_->input_dtype(); }
  int64_t labels_per_sample() const override { return base_->labels_per_sample(); }
  void get_tokens(int64_t index, const SampleContext& ctx, int32_t* x, int32_t* labels) const override {
    KILN_CHECK(index >= 0 && index < size(), "sample {} is out of range for {}", index, describe());
    base_->get_tokens(begin_ + index, ctx, x, labels);
  }
  int64_t sequence_length(int64_t index) const override { return base_->sequence_length(begin_ + index); }
  int64_t decoder_length() const override { return base_->decoder_length(); }
  void get_pair(int64_t index, int32_t* source, int32_t* decoder_input, int32_t* labels) const override {
    KILN_CHECK(index >= 0 && index < size(), "sample {} is out of range for {}", index, describe());
    base_->get_pair(begin_ + index, source, decoder_input, labels);
  }
  int64_t target_length(int64_t index) const override { return base_->target_length(begin_ + index); }
  TokenVocabulary token_vocabulary() const override { return base_->token_vocabulary(); }

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t begin_, end_;
};
}  // namespace

std::shared_ptr<const Dataset> subset(std::shared_ptr<const Dataset> base, int64_t begin, int64_t end) {
  KILN_CHECK(base != nullptr, "subset of a null dataset");
  KILN_CHECK(0 <= begin && begin < end && end <= base->size(),
             "subset [{}, {}) is empty or out of range for {} ({} samples)", begin, end,
             base->describe(), base->size());
  return std::make_shared<Subset>(std::move(base), begin, end);
}

// ---------------------------------------------------------------------------------------------

namespace detail {

PixelMap make_pixel_map(int channels, const Normalize& norm, const std::string& what) {
  auto per_channel = [&](const std::vector<float>& v, float dflt, const char* name) {
    KILN_CHECK(v.empty() || v.size() == 1 || static_cast<int>(v.size()) == channels,
               "{}: normalisation {} has {} values; give 1 or one per channel ({})", what, name,
               v.size(), channels);
    std::vector<float> out(channels, dflt);
    for (int c = 0; c < channels; ++c)
      if (!v.empty()) out[c] = v.size() == 1 ? v[0] : v[c];
    return out;
  };
  const std::vector<float> mean = per_channel(norm.mean, 0.0f, "mean");
  const std::vector<float> stdv = per_channel(norm.std, 1.0f, "std");
  PixelMap map;
  for (int c = 0; c < channels; ++c) {
    KILN_CHECK(stdv[c] > 0.0f, "{}: normalisation std of channel {} is {}; it must be positive",
               what, c, stdv[c]);
    map.scale.push_back(1.0f / (255.0f * stdv[c]));
    map.bias.push_back(-mean[c] / stdv[c]);
  }
  return map;
}

void augmented_size(const Augment& aug, int h, int w, int* out_h, int* out_w) {
  *out_h = aug.crop > 0 ? aug.crop : h + 2 * aug.pad;
  *out_w = aug.crop > 0 ? aug.crop : w + 2 * aug.pad;
}

CropPlan plan_crop(const Augment& aug, int h, int w, const SampleContext& ctx, int64_t index,
                   const std::string& what) {
  CropPlan plan;
  plan.pad = aug.pad;
  augmented_size(aug, h, w, &plan.out_h, &plan.out_w);
  const int ph = h + 2 * aug.pad, pw = w + 2 * aug.pad;
  KILN_CHECK(plan.out_h <= ph && plan.out_w <= pw,
             "{}: crop {}x{} does not fit in the {}x{} image (after padding {})", what, plan.out_h,
             plan.out_w, ph, pw, aug.pad);
  const int range_y = ph - plan.out_h, range_x = pw - plan.out_w;
  if (ctx.train && (aug.random_crop || aug.hflip)) {
    const Philox4x32 r = ctx.random(index);
    if (aug.random_crop) {
      plan.y0 = static_cast<int>((static_cast<uint64_t>(r.v[0]) * (range_y + 1)) >> 32);
      plan.x0 = static_cast<int>((static_cast<uint64_t>(r.v[1]) * (range_x + 1)) >> 32);
    } else {
      plan.y0 = range_y / 2;
      plan.x0 = range_x / 2;
    }
    plan.flip = aug.hflip && (r.v[2] >> 31) != 0;
  } else {
    plan.y0 = range_y / 2;
    plan.x0 = range_x / 2;
  }
  return plan;
}

void transform_u8(const uint8_t* src, bool hwc, int channels, int h, int w, const CropPlan& plan,
                  const PixelMap& map, float* out) {
  const int oh = plan.out_h, ow = plan.out_w;
  // The fast path: the whole planar image, unchanged geometry.
  if (!hwc && !plan.flip && plan.pad == 0 && oh == h && ow == w) {
    const size_t plane = static_cast<size_t>(h) * w;
    for (int c = 0; c < channels; ++c) {
      const float s = map.scale[c], b = map.bias[c];
      const uint8_t* in = src + c * plane;
      float* o = out + c * plane;
      for (size_t i = 0; i < plane; ++i) o[i] = static_cast<float>(in[i]) * s + b;
    }
    return;
  }
  // Source column of each output column (-1 where it falls in the padding).
  std::vector<int> col(ow);
  for (int x = 0; x < ow; ++x) {
    const int px = plan.flip ? plan.x0 + ow - 1 - x : plan.x0 + x;  // padded coordinates
    const int sx = px - plan.pad;
    col[x] = (sx >= 0 && sx < w) ? sx : -1;
  }
  const size_t cstride = hwc ? 1 : static_cast<size_t>(h) * w;
  const size_t xstride = hwc ? channels : 1;
  const size_t ystride = hwc ? static_cast<size_t>(w) * channels : w;
  for (int c = 0; c < channels; ++c) {
    const float s = map.scale[c], b = map.bias[c];
    for (int y = 0; y < oh; ++y) {
      float* o = out + (static_cast<size_t>(c) * oh + y) * ow;
      const int sy = plan.y0 + y - plan.pad;
      if (sy < 0 || sy >= h) {
        std::fill(o, o + ow, b);  // padding is a zero pixel
        continue;
      }
      const uint8_t* row = src + c * cstride + sy * ystride;
      for (int x = 0; x < ow; ++x)
        o[x] = col[x] < 0 ? b : static_cast<float>(row[col[x] * xstride]) * s + b;
    }
  }
}

}  // namespace detail
}  // namespace kiln::data
