// IDX files (MNIST), gzipped or not (core/data/idx): read_idx on an arbitrary file; an input that
// reads as images (N x H x W) or labels (N) is then loaded as an IdxDataset with a valid partner
// file and every sample (at most 64) is fetched.
#include <vector>

#include "core/data/idx.h"
#include "core/data/io.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, size_t payload) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  }
  for (size_t i = 0; i < payload; ++i) out.push_back(static_cast<uint8_t>(i % 10));
  return out;
}

void fetch_all(const kiln::data::IdxDataset& ds) {
  const int64_t n = ds.size() < 64 ? ds.size() : 64;
  std::vector<float> x(static_cast<size_t>(ds.sample_shape().numel()));
  for (int64_t i = 0; i < n; ++i) {
    int32_t label = -1;
    ds.get(i, kiln::data::SampleContext{}, x.data(), &label, nullptr);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kiln::fuzz::TempFile input("input.idx"), partner("partner.idx");
  const std::string& path = input.write(data, size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::data::IdxArray array = kiln::data::read_idx(path);
    // What was accepted must be there: the product of the dimensions, without wrapping.
    uint64_t elements = 1;
    for (int64_t d : array.dims) {
      if (d < 0 || __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements)) {
        std::fprintf(stderr, "fuzz: read_idx accepted dimensions whose product overflows\n");
        std::abort();
      }
    }
    if (array.offset + elements > array.bytes.size()) std::abort();
    if (array.dims.size() == 3 && array.dims[0] <= 4096) {
      const auto n = static_cast<uint32_t>(array.dims[0]);
      const std::vector<uint8_t> labels = idx_bytes(0x08, {n}, n);
      partner.write(labels.data(), labels.size());
      fetch_all(kiln::data::IdxDataset(path, partner.path()));
    } else if (array.dims.size() == 1 && array.dims[0] <= 4096) {
      const auto n = static_cast<uint32_t>(array.dims[0]);
      const std::vector<uint8_t> images = idx_bytes(0x08, {n, 2, 3}, size_t{n} * 6);
      partner.write(images.data(), images.size());
      fetch_all(kiln::data::IdxDataset(partner.path(), path));
    }
  });
  return 0;
}
