#include "kernels/cudnn_conv.h"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <tuple>

#include "core/cuda_check.h"
#include "core/cuda_libs_check.h"
#include "core/tensor.h"
#include "core/workspace.h"
#include "kernels/convert.h"

namespace kiln::gpu {
namespace {

bool sixteen_bit(MathPrecision p) { return p == MathPrecision::BF16 || p == MathPrecision::F16; }

cudnnDataType_t data_type(MathPrecision p) {
  if (p == MathPrecision::BF16) return CUDNN_DATA_BFLOAT16;
  if (p == MathPrecision::F16) return CUDNN_DATA_HALF;
  return CUDNN_DATA_FLOAT;
}

// FP32: no tensor cores (like for like with kiln's FP32 kernels); TF32: FP32 tensors, TF32 tensor
// cores allowed (the default math); BF16/F16: tensor cores.
cudnnMathType_t math_type(MathPrecision p) {
  if (p == MathPrecision::F32) return CUDNN_FMA_MATH;
  if (p == MathPrecision::TF32) return CUDNN_DEFAULT_MATH;
  return CUDNN_TENSOR_OP_MATH;
}

// One shape's descriptors (tensors of the precision's type, FP32 compute) and the algorithms
// cuDNN's search chose for it. y32 and w32 describe the FP32 y and dw the bias and the widened
// 16-bit dw update are added to.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr, y32 = nullptr, w32 = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool searched_fwd = false, searched_bwd_data = false, searched_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;

  Plan(const Conv2dShape& s, MathPrecision precision) {
    const cudnnDataType_t t = data_type(precision);
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y32));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&w32));
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, s.n, s.c, s.h, s.w));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, s.n, s.k, s.p(), s.q()));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s.k, 1, 1));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y32, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.k, s.p(), s.q()));
    KILN_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(w32, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.k, s.c_per_group(), s.r, s.s));
    KILN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, s.k, s.c_per_group(), s.r, s.s));
    KILN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.dilation_h,
                                                     s.dilation_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, s.groups));
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math_type(precision)));
  }
  ~Plan() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyTensorDescriptor(y32);
    cudnnDestroyTensorDescriptor(w32);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int>;

Key key_of(const Conv2dShape& s, MathPrecision p) {
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  return {device, static_cast<int>(p), s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
          s.dilation_w, s.groups};
}

// The calling thread's cuDNN handle for the current device, bound to `stream`.
cudnnHandle_t handle_for(const Stream& stream) {
  struct Handle {
    cudnnHandle_t h = nullptr;
    ~Handle() {
      if (h) cudnnDestroy(h);
    }
  };
  thread_local std::map<int, Handle> handles;
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  Handle& slot = handles[device];
  if (!slot.h) KILN_CUDNN_CHECK(cudnnCreate(&slot.h));
  KILN_CUDNN_CHECK(cudnnSetStream(slot.h, static_cast<cudaStream_t>(stream.native())));
  return slot.h;
}

// The fastest algorithm of a search (results come sorted by time) that is deterministic, like
// every kiln kernel: a nondeterministic one (atomics) would fail the parity suite's two-run check.
template <class Perf>
auto fastest_deterministic(const Perf* perf, int found, const char* pass) {
  for (int i = 0; i < found; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC) return perf[i].algo;
  }
  fail(std::string("cuDNN found no deterministic ") + pass + " algorithm for this convolution");
}

Plan& plan_for(const Conv2dShape& s, MathPrecision precision) {
  s.validate();
  thread_local std::map<Key, std::unique_ptr<Plan>> plans;
  auto& slot = plans[key_of(s, precision)];
  if (!slot) slot = std::make_unique<Plan>(s, precision);
  return *slot;
}

// x[0..n) rounded to the 16-bit format of p (nearest even), in a temporary on the stream.
Tensor narrow(MathPrecision p, const float* x, int64_t n, const Stream& stream) {
  Tensor t = Tensor::empty(Shape{n}, stream, p == MathPrecision::BF16 ? DType::BF16 : DType::F16);
  if (p == MathPrecision::BF16) f32_to_bf16(ConvertShape{.n = n}, x, t.data<bf16>(), stream);
  else f32_to_f16(ConvertShape{.n = n}, x, t.data<f16>(), stream);
  return t;
}

void widen(MathPrecision p, const Tensor& t, float* y, int64_t n, const Stream& stream) {
  if (p == MathPrecision::BF16) bf16_to_f32(ConvertShape{.n = n}, t.data<bf16>(), y, stream);
  else f16_to_f32(ConvertShape{.n = n}, t.data<f16>(), y, stream);
}

// The passes on tensors of the plan's type: y = conv(x, w); dx = conv_transpose(dy, w);
// dw = beta * dw + the update.
void run_forward(cudnnHandle_t h, Plan& p, const void* x, const void* w, void* y, const Stream& stream) {
  if (!p.searched_fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &found, perf));
    p.fwd = fastest_deterministic(perf, found, "forward");
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, p.fwd, &p.fwd_bytes));
    p.searched_fwd = true;
  }
  auto ws = workspace_for(stream.device()).borrow(p.fwd_bytes, stream);
  const float one = 1.0f, zero = 0.0f;
  KILN_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, x, p.w, w, p.conv, p.fwd, ws.data(), p.fwd_bytes, &zero, p.y, y));
}

void run_backward_data(cudnnHandle_t h, Plan& p, const void* dy, const void* w, void* dx, const Stream& stream) {
  if (!p.searched_bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(h, p.w, p.y, p.conv, p.x,
                                                               CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, perf));
    p.bwd_data = fastest_deterministic(perf, found, "backward-data");
    KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, p.bwd_data, &p.bwd_data_bytes));
    p.searched_bwd_data = true;
  }
  auto ws = workspace_for(stream.device()).borrow(p.bwd_data_bytes, stream);
  const float one = 1.0f, zero = 0.0f;  // dx is written
  KILN_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, ws.data(),
                                                p.bwd_data_bytes, &zero, p.x, dx));
}

void run_backward_filter(cudnnHandle_t h, Plan& p, const void* x, const void* dy, float beta, void* dw,
                         const Stream& stream) {
  if (!p.searched_bwd_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(h, p.x, p.y, p.conv, p.w,
                                                                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, perf));
    p.bwd_filter = fastest_deterministic(perf, found, "backward-filter");
    KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w, p.bwd_filter,
                                                                    &p.bwd_filter_bytes));
    p.searched_bwd_filter = true;
  }
  auto ws = workspace_for(stream.device()).borrow(p.bwd_filter_bytes, stream);
  const float one = 1.0f;
  KILN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, ws.data(),
                                                  p.bwd_filter_bytes, &beta, p.w, dw));
}

}  // namespace

void conv2d_forward_cudnn(const Conv2dShape& s, MathPrecision precision, const float* x, const float* w,
                          const float* bias, float* y, const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s, precision);
  if (sixteen_bit(precision)) {
    const Tensor x16 = narrow(precision, x, s.x_size(), stream), w16 = narrow(precision, w, s.w_size(), stream);
    const Tensor y16 = Tensor::empty(Shape{s.y_size()}, stream, x16.dtype());
    run_forward(h, p, x16.raw_data(), w16.raw_data(), y16.raw_data(), stream);
    widen(precision, y16, y, s.y_size(), stream);
  } else {
    run_forward(h, p, x, w, y, stream);
  }
  const float one = 1.0f;
  if (bias) KILN_CUDNN_CHECK(cudnnAddTensor(h, &one, p.bias, bias, &one, p.y32, y));
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, MathPrecision precision, const float* dy, const float* w,
                                float* dx, const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s, precision);
  if (!sixteen_bit(precision)) return run_backward_data(h, p, dy, w, dx, stream);
  const Tensor dy16 = narrow(precision, dy, s.y_size(), stream), w16 = narrow(precision, w, s.w_size(), stream);
  const Tensor dx16 = Tensor::empty(Shape{s.x_size()}, stream, dy16.dtype());
  run_backward_data(h, p, dy16.raw_data(), w16.raw_data(), dx16.raw_data(), stream);
  widen(precision, dx16, dx, s.x_size(), stream);
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, MathPrecision precision, const float* x, const float* dy,
                                  float* dw, const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s, precision);
  if (!sixteen_bit(precision)) return run_backward_filter(h, p, x, dy, 1.0f, dw, stream);  // dw accumulates
  const Tensor x16 = narrow(precision, x, s.x_size(), stream), dy16 = narrow(precision, dy, s.y_size(), stream);
  const Tensor dw16 = Tensor::empty(Shape{s.w_size()}, stream, x16.dtype());
  const Tensor update = Tensor::empty(Shape{s.w_size()}, stream);
  run_backward_filter(h, p, x16.raw_data(), dy16.raw_data(), 0.0f, dw16.raw_data(), stream);
  widen(precision, dw16, update.data<float>(), s.w_size(), stream);
  const float one = 1.0f;
  KILN_CUDNN_CHECK(cudnnAddTensor(h, &one, p.w32, update.data<float>(), &one, p.w32, dw));
}

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                          const Stream& stream) {
  conv2d_forward_cudnn(s, MathPrecision::F32, x, w, bias, y, stream);
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, const Stream& stream) {
  conv2d_backward_data_cudnn(s, MathPrecision::F32, dy, w, dx, stream);
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Stream& stream) {
  conv2d_backward_filter_cudnn(s, MathPrecision::F32, x, dy, dw, stream);
}

}  // namespace kiln::gpu
