// cuBLAS and cuDNN status codes as kiln::Error (the `cuda` build only).
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <source_location>

#include "core/error.h"

namespace kiln {
[[noreturn]] void fail_cublas(cublasStatus_t status, const char* expression,
                              std::source_location where = std::source_location::current());
[[noreturn]] void fail_cudnn(cudnnStatus_t status, const char* expression,
                             std::source_location where = std::source_location::current());
}  // namespace kiln

#define KILN_CUBLAS_CHECK(expr)                                                   \
  do {                                                                             \
    const cublasStatus_t kiln_status_ = (expr);                                    \
    if (kiln_status_ != CUBLAS_STATUS_SUCCESS) ::kiln::fail_cublas(kiln_status_, #expr); \
  } while (0)
#define KILN_CUDNN_CHECK(expr)                                                    \
  do {                                                                             \
    const cudnnStatus_t kiln_status_ = (expr);                                     \
    if (kiln_status_ != CUDNN_STATUS_SUCCESS) ::kiln::fail_cudnn(kiln_status_, #expr); \
  } while (0)
