#include "layers/concat.h"

#include <fmt/format.h>

#include "layers/layer.h"

namespace kiln::layers {

// Row n of the output is [input 0 row n, input 1 row n, ...], each row being C_i * inner contiguous
// values: one strided device copy (copy_2d) per input, on the stream.

namespace {
void copy_rows(const Tensor& src, int64_t src_stride, int64_t src_offset, Tensor& dst, int64_t dst_stride,
               int64_t dst_offset, int64_t rows, int64_t row_elems, const Stream& stream) {
  copy_2d(static_cast<float*>(dst.raw_data()) + dst_offset, static_cast<size_t>(dst_stride) * 4,
          static_cast<const float*>(src.raw_data()) + src_offset, static_cast<size_t>(src_stride) * 4,
          static_cast<size_t>(row_elems) * 4, static_cast<size_t>(rows), dst.device(), stream);
}
}  // namespace

Shape Concat::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() < 2) layer_error(*this, fmt::format("expects 2 or more inputs, got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& first = inputs[0];
  if (first.rank() < 2) layer_error(*this, fmt::format("expects inputs of rank >= 2 (N, C, ...), got {}", first.str()));
  int64_t channels = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& s = inputs[i];
    bool ok = s.rank() == first.rank();
    for (int a = 0; ok && a < s.rank(); ++a) ok = a == 1 || s[a] == first[a];
    if (!ok)
      layer_error(*this, fmt::format("expects inputs equal in every dimension but 1 (channels), got {} (input 0) and {} "
                                     "(input {})",
                                     first.str(), s.str(), i));
    channels += s[1];
  }
  Shape out;
  for (int a = 0; a < first.rank(); ++a) out.push_back(a == 1 ? channels : first[a]);
  return out;
}

Tensor Concat::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const Tensor* t : inputs) {
    shapes.push_back(t->shape());
    dtypes.push_back(t->dtype());
  }
  const Shape out_shape = output_shape(shapes, dtypes);
  Tensor y = Tensor::empty(out_shape, inputs[0]->device());
  const int64_t rows = out_shape[0], out_row = y.numel() / rows;
  int64_t offset = 0;
  channels_.clear();
  for (const Tensor* t : inputs) {
    const int64_t row = t->numel() / rows;
    channels_.push_back(row);
    copy_rows(*t, row, 0, y, out_row, offset, rows, row, stream);
    offset += row;
  }
  return y;
}

void Concat::backward(const BackwardArgs& a) {
  const Tensor& dy = *a.grad_output;
  const int64_t rows = dy.dim(0), out_row = dy.numel() / rows;
  KILN_CHECK(channels_.size() == a.grad_inputs.size(), "layer '{}' (Concat): backward without a forward", name());
  int64_t offset = 0;
  for (size_t i = 0; i < a.grad_inputs.size(); ++i) {
    const int64_t row = channels_[i];
    if (a.grad_inputs[i]) copy_rows(dy, out_row, offset, *a.grad_inputs[i], row, 0, rows, row, a.stream);
    offset += row;
  }
}

}  // namespace kiln::layers
