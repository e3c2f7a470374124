#include "kernels/cudnn_conv.h"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <tuple>

#include "core/cuda_check.h"
#include "core/cuda_libs_check.h"
#include "core/workspace.h"

namespace kiln::gpu {
namespace {

// One shape's descriptors and the algorithms cuDNN's search chose for it.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool searched_fwd = false, searched_bwd_data = false, searched_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;

  explicit Plan(const Conv2dShape& s) {
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.c, s.h, s.w));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.k, s.p(), s.q()));
    KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s.k, 1, 1));
    KILN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.k, s.c_per_group(), s.r, s.s));
    KILN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.dilation_h,
                                                     s.dilation_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, s.groups));
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
  }
  ~Plan() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int, int, int, int>;

Key key_of(const Conv2dShape& s) {
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  return {device, s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
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

Plan& plan_for(const Conv2dShape& s) {
  s.validate();
  thread_local std::map<Key, std::unique_ptr<Plan>> plans;
  auto& slot = plans[key_of(s)];
  if (!slot) slot = std::make_unique<Plan>(s);
  return *slot;
}

}  // namespace

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                          const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s);
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
  if (bias) KILN_CUDNN_CHECK(cudnnAddTensor(h, &one, p.bias, bias, &one, p.y, y));
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s);
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

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Stream& stream) {
  cudnnHandle_t h = handle_for(stream);
  Plan& p = plan_for(s);
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
  const float one = 1.0f;  // dw accumulates (beta = 1)
  KILN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, ws.data(),
                                                  p.bwd_filter_bytes, &one, p.w, dw));
}

}  // namespace kiln::gpu
