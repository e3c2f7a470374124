#include "core/cuda_libs_check.h"

#include <fmt/format.h>

namespace kiln {

void fail_cublas(cublasStatus_t status, const char* expression, std::source_location where) {
  throw Error(fmt::format("cuBLAS call {} failed: {} ({})", expression, cublasGetStatusName(status),
                          cublasGetStatusString(status)),
              where);
}

void fail_cudnn(cudnnStatus_t status, const char* expression, std::source_location where) {
  throw Error(fmt::format("cuDNN call {} failed: {}", expression, cudnnGetErrorString(status)), where);
}

}  // namespace kiln
