// An image folder: ROOT/<class name>/<image>.jpg, one sub-folder per class. Class names are sorted
// (label i is the i-th name); the images of a class are sorted by file name. Files that are not
// .jpg/.jpeg (any case) are ignored; sub-folders inside a class folder are not searched.
//
// get() reads and decodes the JPEG (on the loader's worker threads), resizes it so its shorter
// side is `resize`, crops `augment.crop` x `augment.crop` (random in training, centred in
// evaluation), flips at random in training, and normalises each channel: images (3, crop, crop).
// An image whose header claims, or whose resize would give, more than max_image_pixels pixels is
// an error naming the file (a resize that cannot fit even a square image is refused up front).
#pragma once

#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/jpeg.h"

namespace kiln::data {

struct ImageFolderOptions {
  int resize = 0;       // the shorter side is resized to this first; 0 = no resize
  Augment augment{};      // typical training: {.crop = 224, .random_crop = true, .hflip = true}
  Normalize normalize{};  // per channel, of pixels in [0, 1]
  // The most pixels an image may claim in its header, or have once resized (core/data/jpeg.h).
  int64_t max_image_pixels = kDefaultMaxImagePixels;
};

class ImageFolderDataset final : public Dataset {
 public:
  // Lists the folder (and, when neither resize nor crop fixes the size, decodes the first image
  // for the sample shape; every image must then have that size).
  ImageFolderDataset(const std::string& root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Shape sample_shape() const override { return Shape{3, out_h_, out_w_}; }
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override;

  const std::vector<std::string>& class_names() const { return classes_; }
  const std::string& file(int64_t index) const { return files_.at(index); }
  int32_t label(int64_t index) const { return labels_.at(index); }

 private:
  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int32_t> labels_;
  int out_h_ = 0, out_w_ = 0;
  detail::PixelMap map_;
};

}  // namespace kiln::data
