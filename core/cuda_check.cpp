#include "core/cuda_check.h"

#include <fmt/format.h>

namespace kiln {

std::string cuda_status_text(cudaError_t status) {
  return fmt::format("{} ({})", cudaGetErrorName(status), cudaGetErrorString(status));
}

void fail_cuda(cudaError_t status, const char* expression, std::source_location where) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  throw Error(fmt::format("CUDA call {} failed: {}", expression, cuda_status_text(status)), where);
}

}  // namespace kiln
