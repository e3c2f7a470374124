#include "tests/data/fixtures.h"

#include <fstream>

namespace kiln::data::test {

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    out.push_back(static_cast<uint8_t>(d >> 24));
    out.push_back(static_cast<uint8_t>(d >> 16));
    out.push_back(static_cast<uint8_t>(d >> 8));
    out.push_back(static_cast<uint8_t>(d));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

uint8_t fixture_pixel(int64_t i, int64_t p) { return static_cast<uint8_t>((i * 7 + p * 3) % 256); }

std::vector<uint8_t> fixture_images(int n, int h, int w) {
  std::vector<uint8_t> v;
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < h * w; ++p) v.push_back(fixture_pixel(i, p));
  return v;
}

std::vector<uint8_t> fixture_labels(int n, int classes) {
  std::vector<uint8_t> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<uint8_t>(i % classes));
  return v;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace kiln::data::test
