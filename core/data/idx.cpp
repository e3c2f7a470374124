#include "core/data/idx.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>

#include "core/allocator.h"
#include "core/data/io.h"
#include "core/error.h"

namespace kiln::data {

namespace {
uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return nullptr;
  }
}

std::string base_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}
}  // namespace

// Read piecewise: the header first, then only as many bytes as it promises (growing as they come,
// so a lying header meets "truncated" rather than a huge allocation), then a look for extra bytes.
// A small gzip file that inflates to gigabytes is refused once past the promise.
IdxArray read_idx(const std::string& path) {
  IdxArray a;
  MaybeGzipReader in(path);
  std::vector<uint8_t>& b = a.bytes;
  b.resize(4);
  b.resize(in.read(b.data(), 4));
  KILN_CHECK(b.size() >= 4, "{} is not an IDX file: {} bytes, too short for the 4-byte magic number",
             path, b.size());
  KILN_CHECK(b[0] == 0 && b[1] == 0 && idx_type_name(b[2]) != nullptr && b[3] >= 1,
             "{} is not an IDX file: wrong magic number {} (expected 0x0000TTNN: type TT, NN dimensions, "
             "e.g. 0x00000803 for images, 0x00000801 for labels)",
             path, fmt::format("0x{:02X}{:02X}{:02X}{:02X}", b[0], b[1], b[2], b[3]));
  KILN_CHECK(b[2] == 0x08, "{}: IDX element type {} is not supported (only unsigned bytes, 0x08)",
             path, idx_type_name(b[2]));
  const int ndim = b[3];
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  b.resize(header);
  b.resize(4 + in.read(b.data() + 4, header - 4));
  KILN_CHECK(b.size() >= header, "{} is truncated: {} bytes, but the header of {} dimensions needs {}",
             path, b.size(), ndim, header);
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t dim = big_endian_u32(b.data() + 4 + 4 * d);
    a.dims.push_back(dim);
    // Checked before multiplying: 2^40 * 2^24 would wrap to 0 and pass with no data at all.
    KILN_CHECK(dim == 0 || count <= (uint64_t{1} << 40) / dim,
               "{}: IDX dimensions are implausibly large (dimension {} is {})", path, d, dim);
    count *= dim;
  }
  uint64_t have = 0;
  try {
    while (have < count) {
      const uint64_t chunk = std::min<uint64_t>(count - have, std::max<uint64_t>(have, uint64_t{1} << 22));
      b.resize(header + have + chunk);
      const size_t got = in.read(b.data() + header + have, chunk);
      have += got;
      if (got < chunk) break;
    }
  } catch (const std::bad_alloc&) {
    rethrow_out_of_memory(fmt::format("reading {} (its header promises {} bytes of data, {})", path, count,
                                      format_bytes(count)));
  }
  KILN_CHECK(have >= count, "{} is truncated: the header promises {} bytes of data but {} are there",
             path, count, have);
  b.resize(header + count);
  // Extra bytes: counted up to 64 MiB (a gzip bomb is not inflated to the end to count it).
  uint64_t extra = 0;
  uint8_t scratch[1 << 16];
  for (size_t n; extra <= (uint64_t{64} << 20) && (n = in.read(scratch, sizeof scratch)) > 0;) extra += n;
  KILN_CHECK(extra <= (uint64_t{64} << 20), "{} is corrupt: more than 64 MiB of unexpected bytes after the {} bytes "
             "of data its header promises (not inflated further)", path, count);
  KILN_CHECK(extra == 0, "{} is corrupt: {} unexpected bytes after the {} bytes of data", path, extra, count);
  a.offset = header;
  return a;
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, IdxOptions options)
    : images_path_(images_path), labels_path_(labels_path), options_(std::move(options)) {
  images_ = read_idx(images_path);
  KILN_CHECK(images_.dims.size() == 3,
             "{}: an IDX images file has 3 dimensions (count, height, width), this one has {} "
             "(is it a labels file?)",
             images_path, images_.dims.size());
  labels_ = read_idx(labels_path);
  KILN_CHECK(labels_.dims.size() == 1,
             "{}: an IDX labels file has 1 dimension (count), this one has {} (is it an images file?)",
             labels_path, labels_.dims.size());
  count_ = images_.dims[0];
  KILN_CHECK(labels_.dims[0] == images_.dims[0],
             "label/image count mismatch: {} has {} labels but {} has {} images", labels_path,
             labels_.dims[0], images_path, images_.dims[0]);
  KILN_CHECK(count_ > 0, "{} holds no images", images_path);
  KILN_CHECK(images_.dims[1] > 0 && images_.dims[2] > 0 && images_.dims[1] < 65536 &&
                 images_.dims[2] < 65536,
             "{}: implausible image size {}x{}", images_path, images_.dims[1], images_.dims[2]);
  height_ = static_cast<int>(images_.dims[1]);
  width_ = static_cast<int>(images_.dims[2]);

  const uint8_t* lab = labels_.data();
  const int max_label = *std::max_element(lab, lab + count_);
  if (options_.num_classes > 0) {
    for (int64_t i = 0; i < count_; ++i)
      KILN_CHECK(lab[i] < options_.num_classes, "{}: label {} of sample {} is not below num_classes = {}",
                 labels_path, int{lab[i]}, i, options_.num_classes);
    num_classes_ = options_.num_classes;
  } else {
    num_classes_ = max_label + 1;
  }
  map_ = detail::make_pixel_map(1, options_.normalize, images_path);
  // Fails now, not in a worker, if the crop cannot fit.
  detail::plan_crop(options_.augment, height_, width_, SampleContext{}, 0, images_path);
}

Shape IdxDataset::sample_shape() const {
  int oh, ow;
  detail::augmented_size(options_.augment, height_, width_, &oh, &ow);
  return Shape{1, oh, ow};
}

std::string IdxDataset::describe() const {
  return fmt::format("IDX {}: {} x {}, {} classes", base_name(images_path_), count_,
                     sample_shape().str(), num_classes_);
}

const uint8_t* IdxDataset::pixels(int64_t index) const {
  KILN_CHECK(index >= 0 && index < count_, "sample {} is out of range for {}", index, describe());
  return images_.data() + static_cast<size_t>(index) * height_ * width_;
}

void IdxDataset::get(int64_t index, const SampleContext& ctx, float* x, int32_t* label, float*) const {
  const uint8_t* px = pixels(index);
  const detail::CropPlan plan = detail::plan_crop(options_.augment, height_, width_, ctx, index, images_path_);
  detail::transform_u8(px, false, 1, height_, width_, plan, map_, x);
  if (label) *label = labels_.data()[index];
}

}  // namespace kiln::data
