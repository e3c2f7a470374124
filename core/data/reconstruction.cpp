#include "core/data/reconstruction.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace kiln::data {

ReconstructionDataset::ReconstructionDataset(std::shared_ptr<const Dataset> base, Normalize normalize, bool pixels)
    : base_(std::move(base)), pixels_(pixels) {
  KILN_CHECK(base_->input_dtype() == DType::F32, "target = \"input\" needs float samples, not the token ids of {}",
             base_->describe());
  const Shape shape = base_->sample_shape();
  KILN_CHECK(shape.numel() < (int64_t{1} << 31), "target = \"input\": samples of {} are too large", shape.str());
  if (normalize.mean.empty() && normalize.std.empty()) return;
  // The base checked the lengths (one value, or one per channel); undo (x - mean) / std.
  const size_t channels = shape.rank() == 3 ? static_cast<size_t>(shape[0]) : 1;
  for (size_t c = 0; c < channels; ++c) {
    const auto pick = [&](const std::vector<float>& v, float fallback) {
      return v.empty() ? fallback : v[v.size() == 1 ? 0 : std::min(c, v.size() - 1)];
    };
    scale_.push_back(pick(normalize.std, 1.0f));
    shift_.push_back(pick(normalize.mean, 0.0f));
  }
}

void ReconstructionDataset::get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
                                float* target) const {
  int32_t ignored = 0;  // the base's class label, not a target here
  base_->get(index, ctx, x, label ? label : &ignored, nullptr);
  if (!target) return;
  const Shape shape = base_->sample_shape();
  const int64_t n = shape.numel();
  if (scale_.empty()) {
    std::memcpy(target, x, static_cast<size_t>(n) * sizeof(float));
  } else {
    const int64_t plane = n / static_cast<int64_t>(scale_.size());
    for (int64_t i = 0; i < n; ++i) {
      const size_t c = static_cast<size_t>(i / plane);
      target[i] = x[i] * scale_[c] + shift_[c];
    }
  }
  if (pixels_) {
    for (int64_t i = 0; i < n; ++i) target[i] = std::clamp(target[i], 0.0f, 1.0f);
  }
}

}  // namespace kiln::data
