// CIFAR-10/100 binary batches, gzipped or not (core/data/cifar): the same file read as each kind,
// then samples fetched with the usual training augmentation (pad 4, random crop 32, flip).
#include <vector>

#include "core/data/cifar.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kiln::fuzz::TempFile file("data_batch.bin");
  const std::string& path = file.write(data, size);
  for (kiln::data::CifarKind kind : {kiln::data::CifarKind::Cifar10, kiln::data::CifarKind::Cifar100Fine,
                                     kiln::data::CifarKind::Cifar100Coarse}) {
    kiln::fuzz::expect_only_kiln_errors([&] {
      kiln::data::CifarOptions options;
      options.kind = kind;
      options.augment = {.pad = 4, .crop = 32, .random_crop = true, .hflip = true};
      kiln::data::CifarDataset ds({path}, options);
      std::vector<float> x(static_cast<size_t>(ds.sample_shape().numel()));
      const int64_t n = ds.size() < 16 ? ds.size() : 16;
      for (int64_t i = 0; i < n; ++i) {
        int32_t label = -1;
        ds.get(i, kiln::data::SampleContext{.seed = 7, .epoch = 1, .train = true}, x.data(), &label, nullptr);
        if (label < 0 || label >= ds.num_classes()) std::abort();
      }
    });
  }
  return 0;
}
