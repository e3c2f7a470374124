#include "tools/reconstruction_grid.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kiln {
namespace {

uint8_t to_byte(float v) {
  if (!(v > 0)) return 0;  // NaN too
  return static_cast<uint8_t>(std::lround(std::min(v, 1.0f) * 255.0f));
}

}  // namespace

Image8 reconstruction_grid(const Tensor& originals, const Tensor& reconstructions, const Shape& sample) {
  KILN_CHECK(sample.rank() == 3 && (sample[0] == 1 || sample[0] == 3),
             "reconstructions need images of 1 or 3 channels (C, H, W), not samples of shape {}", sample.str());
  const int64_t c = sample[0], h = sample[1], w = sample[2], per = sample.numel();
  KILN_CHECK(originals.defined() && originals.rank() == 2 && originals.dim(1) == per && originals.dim(0) > 0,
             "reconstructions: originals {} are not rows of {} values", originals.defined() ? originals.shape().str() : "(none)", per);
  KILN_CHECK(reconstructions.defined() && reconstructions.shape() == originals.shape(),
             "reconstructions: the model's outputs {} do not match the originals {} (the decoder must output C*H*W = "
             "{} values per sample)", reconstructions.defined() ? reconstructions.shape().str() : "(none)",
             originals.shape().str(), per);
  const int64_t k = originals.dim(0);
  Image8 im;
  im.width = static_cast<int>(k * w);
  im.height = static_cast<int>(2 * h);
  im.channels = static_cast<int>(c);
  im.pixels.assign(static_cast<size_t>(im.width * im.height * c), 0);
  const Tensor* rows[2] = {&originals, &reconstructions};
  for (int band = 0; band < 2; ++band) {
    const float* src = rows[band]->data<float>();
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t y = 0; y < h; ++y) {
          for (int64_t x = 0; x < w; ++x) {
            const int64_t py = band * h + y, px = i * w + x;
            im.pixels[static_cast<size_t>((py * im.width + px) * c + ch)] = to_byte(src[i * per + (ch * h + y) * w + x]);
          }
        }
      }
    }
  }
  return im;
}

}  // namespace kiln
