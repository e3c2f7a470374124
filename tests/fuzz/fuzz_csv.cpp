// CSV files of numbers (core/data/csv). The first byte of the input picks the options (header
// mode, task, delimiter, standardisation, label column); the rest is the file. Every row (at most
// 64) is then fetched.
#include <vector>

#include "core/data/csv.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kiln::fuzz::TempFile file("data.csv");
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  const std::string& path = file.write(data + 1, size - 1);
  kiln::data::CsvOptions options;
  options.header = static_cast<kiln::data::CsvOptions::Header>(pick % 3);
  options.task = (pick & 0x04) != 0 ? kiln::data::Task::Regression : kiln::data::Task::Classification;
  options.delimiter = (pick & 0x08) != 0 ? ';' : ',';
  options.standardize = (pick & 0x10) != 0;
  const int column = (pick >> 5) - 4;  // -4 .. 3
  if (options.task == kiln::data::Task::Regression) {
    if (column != -1) options.target_columns = {column};
  } else {
    options.label_column = column;
  }
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::data::CsvDataset ds(path, options);
    std::vector<float> x(static_cast<size_t>(ds.sample_shape().numel()));
    std::vector<float> target(static_cast<size_t>(ds.target_dim() > 0 ? ds.target_dim() : 1));
    const int64_t n = ds.size() < 64 ? ds.size() : 64;
    for (int64_t i = 0; i < n; ++i) {
      int32_t label = -1;
      ds.get(i, kiln::data::SampleContext{}, x.data(), &label, target.data());
    }
  });
  return 0;
}
