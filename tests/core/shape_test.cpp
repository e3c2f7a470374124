#include <gtest/gtest.h>

#include "core/error.h"
#include "core/shape.h"

namespace kiln {
namespace {

TEST(Shape, RankNumelAndText) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.str(), "(2, 3, 4)");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_EQ(Shape({7}).str(), "(7,)");
}

TEST(Shape, CountsBeyond32Bits) {
  const Shape s{1 << 20, 1 << 20, 8};
  EXPECT_EQ(s.numel(), int64_t{1} << 43);
}

TEST(Shape, RejectsSixDimensionsNegativeSizesAndBadAxes) {
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), Error);
  EXPECT_THROW((Shape{2, -1}), Error);
  EXPECT_THROW((Shape{2, 3}[2]), Error);
  EXPECT_THROW((Shape{int64_t{1} << 40, int64_t{1} << 40}.numel()), Error);
}

}  // namespace
}  // namespace kiln
