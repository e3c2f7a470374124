// Turning CUDA runtime (and, in the cuda build, cuBLAS and cuDNN) status codes into kiln::Error
// with the status name, its text, the failing expression and the file:line. Device builds only.
#pragma once

#include <cuda_runtime.h>

#include <source_location>

#include "core/error.h"

namespace kiln {

[[noreturn]] void fail_cuda(cudaError_t status, const char* expression,
                            std::source_location where = std::source_location::current());
// "cudaErrorMemoryAllocation (out of memory)"
std::string cuda_status_text(cudaError_t status);

}  // namespace kiln

#define KILN_CUDA_CHECK(expr)                                       \
  do {                                                               \
    const cudaError_t kiln_status_ = (expr);                         \
    if (kiln_status_ != cudaSuccess) [[unlikely]]                    \
      ::kiln::fail_cuda(kiln_status_, #expr);                        \
  } while (0)
