#include "core/data/cifar.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>

#include "core/data/io.h"
#include "core/error.h"

namespace kiln::data {

namespace {
const char* kind_name(CifarKind kind) {
  switch (kind) {
    case CifarKind::Cifar10: return "CIFAR-10";
    case CifarKind::Cifar100Fine: return "CIFAR-100 (fine labels)";
    default: return "CIFAR-100 (coarse labels)";
  }
}
}  // namespace

CifarDataset::CifarDataset(const std::vector<std::string>& files, CifarOptions options)
    : files_(files), options_(std::move(options)) {
  KILN_CHECK(!files.empty(), "{}: no batch files given", kind_name(options_.kind));
  const bool c100 = options_.kind != CifarKind::Cifar10;
  const size_t label_bytes = c100 ? 2 : 1;
  const size_t record = label_bytes + kPixels;
  const int classes = num_classes();
  for (const std::string& path : files) {
    // The real batch files hold 10000 or 50000 records (at most 154 MB): a file, or a small gzip
    // file, that inflates past 1 GiB is refused before it fills the memory.
    const std::vector<uint8_t> bytes = read_file_maybe_gzip(path, uint64_t{1} << 30);
    KILN_CHECK(!bytes.empty(), "{} is empty (expected {} records of {} bytes)", path,
               kind_name(options_.kind), record);
    KILN_CHECK(bytes.size() % record == 0,
               "{} is truncated or not a {} batch: {} bytes is not a whole number of {}-byte records",
               path, kind_name(options_.kind), bytes.size(), record);
    const size_t n = bytes.size() / record;
    const size_t base = labels_.size();
    labels_.resize(base + n);
    pixels_.resize((base + n) * kPixels);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* r = bytes.data() + i * record;
      const int lab = options_.kind == CifarKind::Cifar100Fine ? r[1] : r[0];
      KILN_CHECK(lab < classes,
                 "{}: record {} has label {}, but {} has {} classes (is this the right CIFAR kind?)",
                 path, i, lab, kind_name(options_.kind), classes);
      labels_[base + i] = lab;
      std::memcpy(pixels_.data() + (base + i) * kPixels, r + label_bytes, kPixels);
    }
  }
  map_ = detail::make_pixel_map(3, options_.normalize, files.front());
  detail::plan_crop(options_.augment, 32, 32, SampleContext{}, 0, files.front());
}

int CifarDataset::num_classes() const {
  switch (options_.kind) {
    case CifarKind::Cifar10: return 10;
    case CifarKind::Cifar100Fine: return 100;
    default: return 20;
  }
}

Shape CifarDataset::sample_shape() const {
  int oh, ow;
  detail::augmented_size(options_.augment, 32, 32, &oh, &ow);
  return Shape{3, oh, ow};
}

std::string CifarDataset::describe() const {
  return fmt::format("{} {}{}: {} x {}", kind_name(options_.kind),
                     std::filesystem::path(files_.front()).filename().string(),
                     files_.size() > 1 ? fmt::format(" (+{} files)", files_.size() - 1) : "", size(),
                     sample_shape().str());
}

void CifarDataset::get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float*) const {
  KILN_CHECK(index >= 0 && index < size(), "sample {} is out of range for {}", index, describe());
  const detail::CropPlan plan = detail::plan_crop(options_.augment, 32, 32, ctx, index, files_.front());
  detail::transform_u8(pixels_.data() + static_cast<size_t>(index) * kPixels, false, 3, 32, 32, plan, map_, x);
  if (label) *label = labels_[index];
}

}  // namespace kiln::data
