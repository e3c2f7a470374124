// JPEG decoding (core/data/jpeg, libjpeg-turbo): decode_jpeg on arbitrary bytes, then the
// resizes an image folder applies to what decodes.
#include "core/data/jpeg.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::data::Image image = kiln::data::decode_jpeg(data, size, "fuzz.jpg");
    if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) std::abort();
    kiln::data::Image scaled = kiln::data::decode_jpeg(data, size, "fuzz.jpg", 8);
    kiln::data::Image small = kiln::data::resize_shorter_side(scaled, 8);
    kiln::data::Image square = kiln::data::resize(small, 5, 7);
    if (square.pixels.size() != 5u * 7u * static_cast<size_t>(square.channels)) std::abort();
  });
  return 0;
}
