#include "tools/train/device_ops.h"

#include "core/error.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"

namespace kiln::train_ops {
namespace {

// Runs `gpu` for CUDA tensors and `cpu` for host ones.
template <class Cpu, class Gpu>
void dispatch(Device device, Cpu&& cpu, [[maybe_unused]] Gpu&& gpu) {
  if (device.is_cpu()) {
    cpu();
    return;
  }
#if KILN_WITH_DEVICE
  gpu();
#else
  fail("a CUDA tensor in a build without GPU support");
#endif
}

}  // namespace

void sgd_update(const SgdShape& shape, Tensor& param, const Tensor& grad, Tensor* momentum, const Stream& stream) {
  float* buf = momentum ? momentum->data<float>() : nullptr;
  dispatch(param.device(),
           [&] { cpu::sgd_update(shape, param.data<float>(), grad.data<float>(), buf, stream); },
           [&] {
#if KILN_WITH_DEVICE
             gpu::sgd_update(shape, param.data<float>(), grad.data<float>(), buf, stream);
#endif
           });
}

void adam_update(const AdamShape& shape, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const Stream& stream) {
  dispatch(param.device(),
           [&] { cpu::adam_update(shape, param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), stream); },
           [&] {
#if KILN_WITH_DEVICE
             gpu::adam_update(shape, param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), stream);
#endif
           });
}

double sum_squares(const Tensor& x, const Stream& stream) {
  Tensor out = Tensor::empty({1}, x.device());
  const ReduceShape shape{x.numel()};
  dispatch(x.device(), [&] { cpu::reduce_sum_squares(shape, x.data<float>(), out.data<float>(), stream); },
           [&] {
#if KILN_WITH_DEVICE
             gpu::reduce_sum_squares(shape, x.data<float>(), out.data<float>(), stream);
#endif
           });
  return out.to_host()[0];
}

int64_t count_correct(const Tensor& logits, const Tensor& labels, const Stream& stream, int32_t ignore_label) {
  KILN_CHECK(logits.rank() == 2 && labels.rank() == 1 && labels.dim(0) == logits.dim(0),
             "count_correct: logits {} and labels {} do not match", logits.shape().str(), labels.shape().str());
  Tensor out = Tensor::empty({1}, logits.device(), DType::I32);
  const AccuracyShape shape{static_cast<int>(logits.dim(0)), static_cast<int>(logits.dim(1)), ignore_label};
  dispatch(logits.device(),
           [&] { cpu::count_correct(shape, logits.data<float>(), labels.data<int32_t>(), out.data<int32_t>(), stream); },
           [&] {
#if KILN_WITH_DEVICE
             gpu::count_correct(shape, logits.data<float>(), labels.data<int32_t>(), out.data<int32_t>(), stream);
#endif
           });
  return out.to_host_i32()[0];
}

}  // namespace kiln::train_ops
