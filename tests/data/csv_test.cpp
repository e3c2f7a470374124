#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/data/fixtures.h"

namespace kiln::data::test {
namespace {

using ::testing::HasSubstr;

TEST(Csv, ClassificationWithHeaderAndLastLabelColumn) {
  TempDir dir;
  write_text(dir.path("iris.csv"),
             "sepal, petal ,class\r\n1.5,2,0\r\n\r\n-3e-1, 4 ,2\r\n5,+6.25,1\r\n");
  CsvDataset ds(dir.path("iris.csv"));
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.sample_shape(), (Shape{2}));
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.task(), Task::Classification);
  EXPECT_EQ(ds.feature_names(), (std::vector<std::string>{"sepal", "petal"}));
  float x[2];
  int32_t label;
  ds.get(1, SampleContext{}, x, &label, nullptr);
  EXPECT_FLOAT_EQ(x[0], -0.3f);
  EXPECT_FLOAT_EQ(x[1], 4.0f);
  EXPECT_EQ(label, 2);
  ds.get(2, SampleContext{}, x, &label, nullptr);
  EXPECT_FLOAT_EQ(x[1], 6.25f);
  EXPECT_EQ(label, 1);
}

TEST(Csv, NoHeaderLabelFirst) {
  TempDir dir;
  write_text(dir.path("d.csv"), "1,10,20\n0,30,40\n");
  CsvDataset ds(dir.path("d.csv"), CsvOptions{.label_column = 0});
  EXPECT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.num_classes(), 2);
  float x[2];
  int32_t label;
  ds.get(0, SampleContext{}, x, &label, nullptr);
  EXPECT_EQ(label, 1);
  EXPECT_FLOAT_EQ(x[0], 10.0f);
  EXPECT_FLOAT_EQ(x[1], 20.0f);
}

TEST(Csv, RegressionWithNamedTargetsAndTheLoader) {
  TempDir dir;
  write_text(dir.path("r.csv"), "a;y1;b;y2\n1;10;2;20\n3;30;4;40\n5;50;6;60\n");
  auto ds = std::make_shared<CsvDataset>(
      dir.path("r.csv"), CsvOptions{.delimiter = ';', .task = Task::Regression, .target_names = {"y2", "y1"}});
  EXPECT_EQ(ds->task(), Task::Regression);
  EXPECT_EQ(ds->target_dim(), 2);
  EXPECT_EQ(ds->num_classes(), 0);
  DataLoader loader(ds, LoaderOptions{.batch_size = 2, .shuffle = false});
  Batch b = loader.next();
  EXPECT_EQ(b.x.shape(), (Shape{2, 2}));
  EXPECT_EQ(b.targets.shape(), (Shape{2, 2}));
  EXPECT_FALSE(b.labels.defined());
  EXPECT_EQ(b.x.to_host(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(b.targets.to_host(), (std::vector<float>{20, 10, 40, 30}));
  Batch last = loader.next();
  EXPECT_EQ(last.size(), 1);
  EXPECT_TRUE(last.last_in_epoch);
  EXPECT_EQ(last.targets.to_host(), (std::vector<float>{60, 50}));
}

TEST(Csv, NonNumericCell) {
  TempDir dir;
  std::string text = "a,b,c,label\n";
  for (int i = 2; i < 17; ++i) text += "1,2,3,0\n";
  text += "1,2,abc,1\n";  // line 17
  write_text(dir.path("file.csv"), text);
  EXPECT_EQ(error_of([&] { CsvDataset(dir.path("file.csv")); }),
            dir.path("file.csv") + " line 17 column 3: 'abc' is not a number");
}

TEST(Csv, RaggedRowAndOtherErrors) {
  TempDir dir;
  write_text(dir.path("ragged.csv"), "1,2,0\n3,4,1\n5,0\n");
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("ragged.csv")); }),
              HasSubstr("ragged.csv line 3: 2 columns, expected 3 (as in line 1)"));
  write_text(dir.path("label.csv"), "1,2,0\n3,4,1.5\n");
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("label.csv")); }),
              HasSubstr("label.csv line 2 column 3: label '1.5' is not a class number"));
  write_text(dir.path("empty.csv"), "x,y\n\n");
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("empty.csv")); }), HasSubstr("empty.csv has no data rows"));
  write_text(dir.path("h.csv"), "x,y\n1,0\n");
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("h.csv"), CsvOptions{.label_name = "z"}); }),
              HasSubstr("no label column named 'z' in the header (line 1): x, y"));
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("h.csv"), CsvOptions{.header = CsvOptions::Header::No}); }),
              HasSubstr("h.csv line 1 column 1: 'x' is not a number"));
  write_text(dir.path("nan.csv"), "1,nan,0\n");
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("nan.csv")); }), HasSubstr("is not a finite number"));
  EXPECT_THAT(error_of([&] { CsvDataset(dir.path("absent.csv")); }), HasSubstr("cannot open"));
}

TEST(Csv, Standardize) {
  TempDir dir;
  write_text(dir.path("s.csv"), "1,5,0\n3,5,1\n");
  CsvDataset ds(dir.path("s.csv"), CsvOptions{.standardize = true});
  EXPECT_EQ(ds.feature_mean(), (std::vector<float>{2, 5}));
  EXPECT_EQ(ds.feature_std(), (std::vector<float>{1, 1}));  // a constant column keeps std 1
  float x[2];
  int32_t l;
  ds.get(0, SampleContext{}, x, &l, nullptr);
  EXPECT_FLOAT_EQ(x[0], -1.0f);
  EXPECT_FLOAT_EQ(x[1], 0.0f);
  // The training statistics applied to another file.
  write_text(dir.path("t.csv"), "4,7,0\n");
  CsvDataset test(dir.path("t.csv"), CsvOptions{.standardize = true, .mean = ds.feature_mean(), .std = ds.feature_std()});
  test.get(0, SampleContext{}, x, &l, nullptr);
  EXPECT_FLOAT_EQ(x[0], 2.0f);
  EXPECT_FLOAT_EQ(x[1], 2.0f);
}

}  // namespace
}  // namespace kiln::data::test
