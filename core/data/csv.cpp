#include "core/data/csv.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#include "core/data/io.h"
#include "core/error.h"

namespace kiln::data {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

void split(std::string_view line, char delim, std::vector<std::string_view>& cells) {
  cells.clear();
  for (;;) {
    const size_t at = line.find(delim);
    cells.push_back(trim(line.substr(0, at)));
    if (at == std::string_view::npos) break;
    line.remove_prefix(at + 1);
  }
}

bool parse_number(std::string_view cell, float* value) {
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return false;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), *value);
  return ec == std::errc() && end == cell.data() + cell.size();
}

}  // namespace

CsvDataset::CsvDataset(const std::string& path, CsvOptions options)
    : path_(path), options_(std::move(options)) {
  const std::vector<uint8_t> bytes = read_file(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  // Pass over the lines: header detection, column resolution, numbers.
  std::vector<std::string_view> cells;
  std::vector<std::string> header;
  int columns = -1, first_data_line = 0;
  std::vector<int> target_cols;  // resolved, in order
  int label_col = -1;
  std::vector<int> feature_cols;

  auto resolve = [&](int line_no) {
    auto by_index = [&](int c, const char* what) {
      const int r = c < 0 ? c + columns : c;
      KILN_CHECK(r >= 0 && r < columns, "{} line {}: {} column {} is out of range: the file has {} columns",
                 path, line_no, what, c, columns);
      return r;
    };
    auto by_name = [&](const std::string& name, const char* what) {
      KILN_CHECK(!header.empty(), "{}: {} column '{}' is named, but the file has no header row",
                 path, what, name);
      const auto it = std::find(header.begin(), header.end(), name);
      KILN_CHECK(it != header.end(), "{}: no {} column named '{}' in the header (line {}): {}", path,
                 what, name, line_no, fmt::format("{}", fmt::join(header, ", ")));
      return static_cast<int>(it - header.begin());
    };
    if (options_.task == Task::Classification) {
      label_col = options_.label_name.empty() ? by_index(options_.label_column, "label")
                                              : by_name(options_.label_name, "label");
    } else {
      if (!options_.target_names.empty()) {
        for (const std::string& n : options_.target_names) target_cols.push_back(by_name(n, "target"));
      } else if (!options_.target_columns.empty()) {
        for (int c : options_.target_columns) target_cols.push_back(by_index(c, "target"));
      } else {
        target_cols.push_back(columns - 1);
      }
    }
    for (int c = 0; c < columns; ++c) {
      const bool is_target = c == label_col || std::find(target_cols.begin(), target_cols.end(), c) != target_cols.end();
      if (!is_target) {
        feature_cols.push_back(c);
        feature_names_.push_back(header.empty() ? fmt::format("column {}", c + 1) : header[c]);
      }
    }
    KILN_CHECK(!feature_cols.empty(), "{}: no feature columns left after the label/target columns", path);
    features_ = static_cast<int>(feature_cols.size());
    targets_per_row_ = static_cast<int>(target_cols.size());
  };

  int line_no = 0;
  int max_label = -1;
  std::vector<float> values;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    split(line, options_.delimiter, cells);
    if (columns < 0) {
      columns = static_cast<int>(cells.size());
      first_data_line = line_no;
      bool header_row = options_.header == CsvOptions::Header::Yes;
      if (options_.header == CsvOptions::Header::Auto) {
        float v;
        for (std::string_view c : cells) header_row |= !parse_number(c, &v);
      }
      if (header_row) {
        for (std::string_view c : cells) header.emplace_back(unquote(c));
        resolve(line_no);
        continue;
      }
      resolve(line_no);
    }
    KILN_CHECK(static_cast<int>(cells.size()) == columns,
               "{} line {}: {} columns, expected {} (as in line {})", path, line_no, cells.size(),
               columns, first_data_line);
    values.resize(columns);
    for (int c = 0; c < columns; ++c) {
      if (!parse_number(cells[c], &values[c]))
        fail(format_message("{} line {} column {}: '{}' is not a number", path, line_no, c + 1, cells[c]));
      KILN_CHECK(std::isfinite(values[c]), "{} line {} column {}: '{}' is not a finite number", path,
                 line_no, c + 1, cells[c]);
    }
    for (int c : feature_cols) x_.push_back(values[c]);
    if (options_.task == Task::Classification) {
      const float v = values[label_col];
      KILN_CHECK(v >= 0 && v == std::floor(v) && v < 1e7f,
                 "{} line {} column {}: label '{}' is not a class number (0, 1, 2, ...)", path,
                 line_no, label_col + 1, cells[label_col]);
      const int lab = static_cast<int>(v);
      KILN_CHECK(options_.num_classes <= 0 || lab < options_.num_classes,
                 "{} line {} column {}: label {} is not below num_classes = {}", path, line_no,
                 label_col + 1, lab, options_.num_classes);
      labels_.push_back(lab);
      max_label = std::max(max_label, lab);
    } else {
      for (int c : target_cols) y_.push_back(values[c]);
    }
    ++rows_;
  }
  KILN_CHECK(rows_ > 0, "{} has no data rows", path);
  num_classes_ = options_.task == Task::Regression ? 0
                 : options_.num_classes > 0          ? options_.num_classes
                                                     : max_label + 1;

  if (options_.standardize) {
    if (!options_.mean.empty() || !options_.std.empty()) {
      KILN_CHECK(static_cast<int>(options_.mean.size()) == features_ &&
                     static_cast<int>(options_.std.size()) == features_,
                 "{}: standardisation given for {} / {} features, the file has {}", path,
                 options_.mean.size(), options_.std.size(), features_);
      mean_ = options_.mean;
      std_ = options_.std;
    } else {
      std::vector<double> sum(features_, 0.0), sq(features_, 0.0);
      for (int64_t r = 0; r < rows_; ++r)
        for (int f = 0; f < features_; ++f) sum[f] += x_[r * features_ + f];
      mean_.resize(features_);
      std_.resize(features_);
      for (int f = 0; f < features_; ++f) mean_[f] = static_cast<float>(sum[f] / rows_);
      for (int64_t r = 0; r < rows_; ++r)
        for (int f = 0; f < features_; ++f) {
          const double d = x_[r * features_ + f] - static_cast<double>(mean_[f]);
          sq[f] += d * d;
        }
      for (int f = 0; f < features_; ++f) {
        const double s = std::sqrt(sq[f] / rows_);
        std_[f] = s > 1e-12 ? static_cast<float>(s) : 1.0f;  // a constant column stays at 0
      }
    }
    for (int f = 0; f < features_; ++f)
      KILN_CHECK(std_[f] > 0, "{}: standard deviation of feature {} is {}", path, feature_names_[f], std_[f]);
    for (int64_t r = 0; r < rows_; ++r)
      for (int f = 0; f < features_; ++f)
        x_[r * features_ + f] = (x_[r * features_ + f] - mean_[f]) / std_[f];
  }
}

std::string CsvDataset::describe() const {
  if (options_.task == Task::Regression)
    return fmt::format("CSV {}: {} rows x {} features, {} target{}", path_, rows_, features_, targets_per_row_,
                       targets_per_row_ == 1 ? "" : "s");
  return fmt::format("CSV {}: {} rows x {} features, {} classes", path_, rows_, features_, num_classes_);
}

void CsvDataset::get(int64_t index, const SampleContext&, float* x, int32_t* label, float* target) const {
  KILN_CHECK(index >= 0 && index < rows_, "sample {} is out of range for {}", index, describe());
  std::memcpy(x, x_.data() + index * features_, sizeof(float) * features_);
  if (options_.task == Task::Classification) {
    if (label) *label = labels_[index];
  } else if (target) {
    std::memcpy(target, y_.data() + index * targets_per_row_, sizeof(float) * targets_per_row_);
  }
}

}  // namespace kiln::data
