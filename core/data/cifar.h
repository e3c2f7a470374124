// CIFAR-10 / CIFAR-100 binary batches (data_batch_1.bin ... test_batch.bin; train.bin, test.bin).
// A CIFAR-10 record is 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of
// 32); a CIFAR-100 record has 2 label bytes (coarse, fine) + 3072. Files may be gzipped.
#pragma once

#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace kiln::data {

enum class CifarKind : uint8_t { Cifar10, Cifar100Fine, Cifar100Coarse };

struct CifarOptions {
  CifarKind kind = CifarKind::Cifar10;
  Normalize normalize{};  // e.g. {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}
  Augment augment{};      // e.g. {.pad = 4, .crop = 32, .random_crop = true, .hflip = true}
};

class CifarDataset final : public Dataset {
 public:
  // The records of all `files`, in order.
  CifarDataset(const std::vector<std::string>& files, CifarOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Shape sample_shape() const override;
  int num_classes() const override;
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override;

  static constexpr int kPixels = 3 * 32 * 32;

 private:
  std::vector<std::string> files_;
  CifarOptions options_;
  std::vector<uint8_t> pixels_;  // (N, 3, 32, 32)
  std::vector<int32_t> labels_;
  detail::PixelMap map_;
};

}  // namespace kiln::data
