#include "tools/png_writer.h"

#include <fmt/format.h>
#include <zlib.h>

#include <fstream>

#include "core/error.h"

namespace kiln {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

// A chunk: length, type, data, CRC-32 over type and data.
void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                           static_cast<uInt>(body.size()))));
}

}  // namespace

std::string encode_png(const Image8& im) {
  KILN_CHECK(im.width > 0 && im.height > 0 && im.width <= (1 << 24) && im.height <= (1 << 24),
             "PNG: image size {} x {} is out of range", im.width, im.height);
  KILN_CHECK(im.channels == 1 || im.channels == 3, "PNG: {} channels (1 or 3 supported)", im.channels);
  const size_t row = static_cast<size_t>(im.width) * static_cast<size_t>(im.channels);
  KILN_CHECK(im.pixels.size() == row * static_cast<size_t>(im.height), "PNG: {} pixel bytes for {} x {} x {}",
             im.pixels.size(), im.width, im.height, im.channels);
  // Each scanline starts with its filter type, 0 (none).
  std::string raw;
  raw.reserve((row + 1) * static_cast<size_t>(im.height));
  for (int y = 0; y < im.height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(im.pixels.data()) + static_cast<size_t>(y) * row, row);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                           reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 6);
  KILN_CHECK(rc == Z_OK, "PNG: zlib compress2 failed ({})", rc);
  packed.resize(packed_size);

  std::string header;
  put_u32(header, static_cast<uint32_t>(im.width));
  put_u32(header, static_cast<uint32_t>(im.height));
  header += static_cast<char>(8);                       // bit depth
  header += static_cast<char>(im.channels == 1 ? 0 : 2);  // colour type: gray or RGB
  header += std::string(3, '\0');                       // compression, filter, interlace methods
  std::string out = "\x89PNG\r\n\x1a\n";
  put_chunk(out, "IHDR", header);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", "");
  return out;
}

void write_png(const std::string& path, const Image8& image) {
  const std::string bytes = encode_png(image);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  KILN_CHECK(out.good(), "cannot write {}", path);
}

}  // namespace kiln
