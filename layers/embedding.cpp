#include "layers/embedding.h"

#include <fmt/format.h>

#include "kernels/embedding.h"
#include "layers/layer.h"

namespace kiln::layers {
namespace {
void check_ids(const EmbeddingShape& s, const int32_t* ids) {
  for (int64_t i = 0; i < s.n; ++i)
    KILN_CHECK(ids[i] >= 0 && ids[i] < s.v, "embedding: token id {} at position {} is outside [0, {})", ids[i], i,
               s.v);
}
}  // namespace

Embedding::Embedding(std::string name, int num_embeddings, int embedding_dim, Init weight_init)
    : Layer(std::move(name)), v_(num_embeddings), d_(embedding_dim), init_(weight_init) {}

Shape Embedding::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1) layer_error(*this, fmt::format("expects 1 input (token ids), got {}", inputs.size()));
  check_dtypes(*this, dtypes, {0});
  Shape out = inputs[0];
  out.push_back(d_);
  return out;
}

void Embedding::setup(const std::vector<Shape>&, Device device) {
  if (!params_.empty()) return;
  params_.push_back(Parameter{.name = "weight",
                              .value = Tensor::empty(Shape{v_, d_}, device),
                              .grad = Tensor::zeros(Shape{v_, d_}, device),
                              .init = init_,
                              .fan_in = v_,
                              .fan_out = d_});
}

Tensor Embedding::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& ids = *inputs[0];
  Shape shape = ids.shape();
  shape.push_back(d_);
  Tensor y = Tensor::empty(shape, ids.device());
  const EmbeddingShape s{.n = ids.numel(), .v = v_, .d = d_};
  try {
    // The op gives an id outside [0, V) a NaN row on either device (it cannot stop on the GPU, where
    // the ids are device memory). Ids the host can read are checked here, so a CPU run names the
    // bad token instead; on the GPU the NaN reaches the loss, which the trainer reports.
    if (ids.device().is_cpu()) check_ids(s, ids.data<int32_t>());
    KILN_DISPATCH(ids.device(), embedding_forward, s, ids.data<int32_t>(), params_[0].value.data<float>(),
                  y.data<float>(), stream);
  } catch (const Error& e) {
    layer_error(*this, e.message());
  }
  return y;
}

void Embedding::backward(const BackwardArgs& a) {
  const Tensor& ids = *a.inputs[0];
  const EmbeddingShape s{.n = ids.numel(), .v = v_, .d = d_};
  KILN_DISPATCH(ids.device(), embedding_backward, s, ids.data<int32_t>(), a.grad_output->data<float>(),
                params_[0].grad.data<float>(), a.stream);
}

std::string Embedding::describe() const { return fmt::format("{} tokens -> {}", v_, d_); }

}  // namespace kiln::layers
