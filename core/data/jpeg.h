// JPEG decoding and encoding (libjpeg-turbo), and resizing of 8-bit interleaved images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::data {

// An 8-bit image, interleaved (H, W, C).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// The most pixels (width x height) an image may have, as its header claims or once resized, unless
// told otherwise ([data] max_image_pixels): 100 million (300 MB as RGB). A tiny file whose header
// claims 20000x20000 is refused before the memory is taken.
inline constexpr int64_t kDefaultMaxImagePixels = 100'000'000;

// Decodes a JPEG to RGB (grayscale is expanded). With min_short_side > 0, libjpeg's DCT scaling
// (1/2, 1/4, 1/8) shrinks the image while its shorter side stays >= min_short_side: much faster
// decoding of large photos that are resized anyway. A corrupt, truncated or non-JPEG input is a
// kiln::Error naming `what` (the file) and libjpeg's reason; so is a header that claims more than
// max_pixels pixels.
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& what, int min_short_side = 0,
                  int64_t max_pixels = kDefaultMaxImagePixels);
Image read_jpeg(const std::string& path, int min_short_side = 0, int64_t max_pixels = kDefaultMaxImagePixels);

// Writes an RGB (channels 3) or grayscale (channels 1) image as a JPEG file.
void write_jpeg(const std::string& path, const Image& image, int quality = 90);

// Bilinear resize so that the shorter side becomes `short_side` (aspect ratio kept). A result of
// more than max_pixels pixels is a kiln::Error naming `what` (checked before any work).
Image resize_shorter_side(const Image& image, int short_side, int64_t max_pixels = kDefaultMaxImagePixels,
                          const std::string& what = "image");
// Bilinear resize to exactly width x height.
Image resize(const Image& image, int width, int height);

}  // namespace kiln::data
