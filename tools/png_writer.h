// A minimal PNG encoder (8-bit grayscale or RGB, no interlace, filter 0 on every row), zlib for
// the IDAT stream: what `kiln eval --reconstructions` writes. No third-party PNG code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// An 8-bit image, rows top to bottom, channels interleaved (1: gray, 3: RGB).
struct Image8 {
  int width = 0, height = 0, channels = 1;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// The PNG file's bytes. Throws kiln::Error for an empty image, a channel count other than 1 or 3
// or a pixel buffer of the wrong size.
std::string encode_png(const Image8& image);

// encode_png to `path`; an error names the file.
void write_png(const std::string& path, const Image8& image);

}  // namespace kiln
