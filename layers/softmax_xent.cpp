#include "layers/softmax_xent.h"

#include <fmt/format.h>

#include "kernels/softmax_xent.h"
#include "layers/layer.h"

namespace kiln::layers {

SoftmaxCrossEntropy::SoftmaxCrossEntropy(std::string name, int32_t ignore_label, float loss_weight)
    : Layer(std::move(name)), ignore_label_(ignore_label), loss_weight_(loss_weight) {}

Shape SoftmaxCrossEntropy::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 2) layer_error(*this, fmt::format("expects 2 inputs (logits, labels), got {}", inputs.size()));
  check_dtypes(*this, dtypes, {1});
  const Shape &x = inputs[0], &t = inputs[1];
  if (x.rank() != 2) layer_error(*this, fmt::format("expects logits (N, C), got {}", x.str()));
  if (t.rank() != 1 || t[0] != x[0])
    layer_error(*this, fmt::format("expects labels (N) with N={} to match the logits {}, got {}", x[0], x.str(), t.str()));
  to_int(*this, x[0], "N");
  to_int(*this, x[1], "C");
  return Shape{1};
}

Tensor SoftmaxCrossEntropy::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor &x = *inputs[0], &t = *inputs[1];
  const SoftmaxXentShape s{.n = static_cast<int>(x.dim(0)), .c = static_cast<int>(x.dim(1)), .ignore_label = ignore_label_};
  Tensor loss = Tensor::empty(Shape{1}, x.device());
  try {
    KILN_DISPATCH(x.device(), softmax_xent_forward, s, x.data<float>(), t.data<int32_t>(), nullptr, loss.data<float>(),
                  stream);
  } catch (const Error& e) {
    layer_error(*this, e.message());
  }
  return loss;
}

void SoftmaxCrossEntropy::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  const Tensor &x = *a.inputs[0], &t = *a.inputs[1];
  const SoftmaxXentShape s{.n = static_cast<int>(x.dim(0)), .c = static_cast<int>(x.dim(1)), .ignore_label = ignore_label_};
  KILN_DISPATCH(x.device(), softmax_xent_backward, s, x.data<float>(), t.data<int32_t>(), a.loss_scale,
                a.grad_inputs[0]->data<float>(), a.stream);
}

}  // namespace kiln::layers
