#include "core/shape.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace kiln {

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t dim) {
  KILN_CHECK(rank_ < kMaxRank, "shape {} cannot grow past {} dimensions", str(), kMaxRank);
  KILN_CHECK(dim >= 0, "shape dimension {} is negative: {} (in {})", rank_, dim, str());
  dims_[rank_++] = dim;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    KILN_CHECK(dims_[i] == 0 || n <= std::numeric_limits<int64_t>::max() / dims_[i],
               "shape {} has more elements than fit in 64 bits", str());
    n *= dims_[i];
  }
  return n;
}

int Shape::normalise(int axis) const {
  const int a = axis < 0 ? axis + rank_ : axis;
  KILN_CHECK(a >= 0 && a < rank_, "axis {} is out of range for shape {}", axis, str());
  return a;
}

bool operator==(const Shape& a, const Shape& b) {
  return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
}

std::string Shape::str() const {
  if (rank_ == 1) return fmt::format("({},)", dims_[0]);
  return fmt::format("({})", fmt::join(begin(), end(), ", "));
}

}  // namespace kiln
