// CSV files of numbers: one sample per row, for MLPs (classification with a label column,
// regression with one or more target columns). Every other column is a feature: samples (F).
//
// Columns are numbered from 0 here (negative: from the end, -1 = the last); error messages count
// lines and columns from 1 as editors do: "data.csv line 17 column 3: 'abc' is not a number".
// Blank lines are skipped; cells may be surrounded by spaces; '\r\n' line ends are accepted.
#pragma once

#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace kiln::data {

struct CsvOptions {
  enum class Header : uint8_t { Auto, Yes, No };
  Header header = Header::Auto;  // Auto: the first row is a header if any cell is not a number
  char delimiter = ',';
  Task task = Task::Classification;
  // Classification: the label column (values 0, 1, 2, ...). label_name (needs a header) wins.
  int label_column = -1;
  std::string label_name{};
  // Regression: the target columns (default: the last one). target_names (need a header) win.
  std::vector<int> target_columns{};
  std::vector<std::string> target_names{};
  int num_classes = 0;       // 0: the largest label + 1
  // Standardise features to zero mean and unit variance, with `mean`/`std` when given (e.g. the
  // training file's, from feature_mean()/feature_std()), else with this file's statistics.
  bool standardize = false;
  std::vector<float> mean{}, std{};
};

class CsvDataset final : public Dataset {
 public:
  explicit CsvDataset(const std::string& path, CsvOptions options = {});

  int64_t size() const override { return rows_; }
  Shape sample_shape() const override { return Shape{features_}; }
  Task task() const override { return options_.task; }
  int num_classes() const override { return num_classes_; }
  int target_dim() const override { return targets_per_row_; }
  std::string describe() const override;
  void get(int64_t index, const SampleContext& ctx, float* x, int32_t* label,
           float* target) const override;

  // Names of the feature columns (from the header, else "column N").
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  // The standardisation in use (empty without standardize).
  const std::vector<float>& feature_mean() const { return mean_; }
  const std::vector<float>& feature_std() const { return std_; }

 private:
  std::string path_;
  CsvOptions options_;
  int64_t rows_ = 0;
  int features_ = 0, targets_per_row_ = 0, num_classes_ = 0;
  std::vector<float> x_;        // (rows, features)
  std::vector<float> y_;        // (rows, targets) for regression
  std::vector<int32_t> labels_; // (rows) for classification
  std::vector<std::string> feature_names_;
  std::vector<float> mean_, std_;
};

}  // namespace kiln::data
