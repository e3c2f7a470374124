#include "tools/train/device_ops.h"

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"

namespace kiln::train_ops {

void sgd_update(const SgdShape& shape, Tensor& param, const Tensor& grad, Tensor* momentum, const float* grad_scale,
                const Stream& stream) {
  float* buf = momentum ? momentum->data<float>() : nullptr;
  KILN_DISPATCH(param.device(), sgd_update, shape, param.data<float>(), grad.data<float>(), buf, grad_scale, stream);
}

void adam_update(const AdamShape& shape, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                 const float* grad_scale, const Stream& stream) {
  KILN_DISPATCH(param.device(), adam_update, shape, param.data<float>(), grad.data<float>(), m.data<float>(),
                v.data<float>(), grad_scale, stream);
}

double sum_squares(const Tensor& x, const Stream& stream) {
  Tensor out = Tensor::empty({1}, x.device());
  const ReduceShape shape{x.numel()};
  KILN_DISPATCH(x.device(), reduce_sum_squares, shape, x.data<float>(), out.data<float>(), stream);
  return out.to_host()[0];
}

int64_t count_correct(const Tensor& logits, const Tensor& labels, const Stream& stream, int32_t ignore_label) {
  KILN_CHECK(logits.rank() == 2 && labels.rank() == 1 && labels.dim(0) == logits.dim(0),
             "count_correct: logits {} and labels {} do not match", logits.shape().str(), labels.shape().str());
  Tensor out = Tensor::empty({1}, logits.device(), DType::I32);
  const AccuracyShape shape{static_cast<int>(logits.dim(0)), static_cast<int>(logits.dim(1)), ignore_label};
  KILN_DISPATCH(logits.device(), count_correct, shape, logits.data<float>(), labels.data<int32_t>(),
                out.data<int32_t>(), stream);
  return out.to_host_i32()[0];
}

}  // namespace kiln::train_ops
