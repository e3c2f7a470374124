// kiln::Shape: up to 5 dimensions with 64-bit sizes, row-major (the last dimension is contiguous).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace kiln {

class Shape {
 public:
  static constexpr int kMaxRank = 5;

  Shape() = default;  // rank 0: a scalar with one element
  Shape(std::initializer_list<int64_t> dims);
  template <class It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }

  int rank() const { return rank_; }
  int64_t operator[](int axis) const { return dims_[normalise(axis)]; }
  int64_t numel() const;
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  void push_back(int64_t dim);

  friend bool operator==(const Shape& a, const Shape& b);
  // "(2, 3, 4)"
  std::string str() const;

 private:
  int normalise(int axis) const;  // negative axes count from the end; throws if out of range
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace kiln
