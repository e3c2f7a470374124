#include "core/data/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/data/jpeg.h"
#include "core/error.h"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {
bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}
}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root, ImageFolderOptions options)
    : root_(root), options_(std::move(options)) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(root, ec), "image folder {} does not exist or is not a directory", root);
  fs::directory_iterator it(root, ec);
  KILN_CHECK(!ec, "cannot list image folder {}: {}", root, ec.message());
  for (const fs::directory_entry& e : it)
    if (e.is_directory(ec)) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  KILN_CHECK(!classes_.empty(),
             "image folder {} has no class sub-folders (expected {}/<class>/<image>.jpg)", root, root);
  for (size_t c = 0; c < classes_.size(); ++c) {
    const fs::path dir = fs::path(root) / classes_[c];
    std::vector<std::string> names;
    fs::directory_iterator cit(dir, ec);
    KILN_CHECK(!ec, "cannot list {}: {}", dir.string(), ec.message());
    for (const fs::directory_entry& e : cit)
      if (e.is_regular_file(ec) && is_jpeg_name(e.path())) names.push_back(e.path().string());
    KILN_CHECK(!names.empty(), "image folder {}: class folder '{}' has no .jpg/.jpeg files", root,
               classes_[c]);
    std::sort(names.begin(), names.end());
    for (std::string& n : names) {
      files_.push_back(std::move(n));
      labels_.push_back(static_cast<int32_t>(c));
    }
  }
  KILN_CHECK(options_.resize >= 0 && options_.augment.crop >= 0 && options_.augment.pad >= 0,
             "image folder {}: resize, crop and pad must not be negative", root);
  KILN_CHECK(options_.max_image_pixels > 0, "image folder {}: max_image_pixels must be positive, not {}", root,
             options_.max_image_pixels);
  // Even a square image is resize x resize: refused before any image is read.
  KILN_CHECK(static_cast<double>(options_.resize) * options_.resize <= static_cast<double>(options_.max_image_pixels),
             "image folder {}: resize = {} makes every image at least {}x{} = {} pixels, more than the {} "
             "allowed ([data] max_image_pixels)",
             root, options_.resize, options_.resize, options_.resize,
             static_cast<int64_t>(options_.resize) * options_.resize, options_.max_image_pixels);
  map_ = detail::make_pixel_map(3, options_.normalize, root);
  if (options_.augment.crop > 0) {
    out_h_ = out_w_ = options_.augment.crop;
    KILN_CHECK(options_.resize == 0 || options_.resize >= options_.augment.crop,
               "image folder {}: crop {} is larger than the resized shorter side {}", root,
               options_.augment.crop, options_.resize);
  } else {
    // The first image fixes the size; every other one must match (checked in get()).
    Image first = read_jpeg(files_.front(), options_.resize, options_.max_image_pixels);
    if (options_.resize > 0)
      first = resize_shorter_side(first, options_.resize, options_.max_image_pixels, files_.front());
    detail::augmented_size(options_.augment, first.height, first.width, &out_h_, &out_w_);
  }
}

std::string ImageFolderDataset::describe() const {
  return fmt::format("image folder {}: {} images x {}, {} classes", root_, size(),
                     sample_shape().str(), num_classes());
}

void ImageFolderDataset::get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
                             float*) const {
  KILN_CHECK(index >= 0 && index < size(), "sample {} is out of range for {}", index, describe());
  const std::string& path = files_[index];
  Image image = read_jpeg(path, options_.resize, options_.max_image_pixels);
  if (options_.resize > 0) image = resize_shorter_side(image, options_.resize, options_.max_image_pixels, path);
  const detail::CropPlan plan = detail::plan_crop(options_.augment, image.height, image.width, ctx, index, path);
  KILN_CHECK(plan.out_h == out_h_ && plan.out_w == out_w_,
             "{}: this image gives a {}x{} sample, the others {}x{}; set resize and crop so that "
             "every image gives the same size",
             path, plan.out_h, plan.out_w, out_h_, out_w_);
  detail::transform_u8(image.pixels.data(), true, 3, image.height, image.width, plan, map_, x);
  if (label) *label = labels_[index];
}

}  // namespace kiln::data
