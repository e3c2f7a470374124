// IDX files (MNIST, Fashion-MNIST), gzipped or not: an images file (magic 0x00000803, unsigned
// bytes, dimensions N x H x W) and a labels file (magic 0x00000801, N bytes).
//
// Both files are decoded once into memory (one byte per pixel); get() scales a sample to [0, 1],
// normalises it and applies the optional augmentation, so a batch costs a pass over its pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace kiln::data {

struct IdxOptions {
  Normalize normalize{};  // e.g. MNIST {0.1307}, {0.3081}; empty: pixels in [0, 1]
  Augment augment{};      // none by default
  int num_classes = 0;  // 0: the largest label + 1; otherwise every label must be below it
};

// One IDX array decoded from a file: the dimensions and the unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the whole file; the data start at `offset`
  size_t offset = 0;
  const uint8_t* data() const { return bytes.data() + offset; }
};
// Reads and checks an IDX file of unsigned bytes (magic, element type, dimensions, exact size).
IdxArray read_idx(const std::string& path);

class IdxDataset final : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, IdxOptions options = {});

  int64_t size() const override { return count_; }
  Shape sample_shape() const override;
  int num_classes() const override { return num_classes_; }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override;

  // Raw access: the 8-bit pixels of sample `index` (H x W) and its label.
  const uint8_t* pixels(int64_t index) const;
  int32_t label(int64_t index) const { return labels_.data()[index]; }

 private:
  std::string images_path_, labels_path_;
  IdxOptions options_;
  IdxArray images_, labels_;
  int64_t count_ = 0;
  int height_ = 0, width_ = 0;
  int num_classes_ = 0;
  detail::PixelMap map_;
};

}  // namespace kiln::data
