#include "core/version.h"

#include <fmt/format.h>

#if KILN_WITH_DEVICE
#include <cuda_runtime.h>
#endif
#if KILN_WITH_CUDA
#include <cublas_v2.h>
#include <cudnn.h>
#endif

namespace kiln {

const char* version() { return KILN_VERSION; }
const char* gpu_flavour() { return KILN_GPU_FLAVOUR_NAME; }

namespace {
[[maybe_unused]] std::string cuda_version_string(int v) {
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}
}  // namespace

std::vector<ComponentVersion> component_versions() {
  std::vector<ComponentVersion> out;
#if KILN_WITH_DEVICE
  int runtime = 0;
  const bool have_runtime = cudaRuntimeGetVersion(&runtime) == cudaSuccess;
  cudaGetLastError();
#if KILN_WITH_EMULATOR
  out.push_back({"CUDA runtime", have_runtime ? "kiln emulator (API of CUDA " + cuda_version_string(runtime) + ")" : "unknown"});
  out.push_back({"CUDA driver", "none needed (emulated)"});
#else
  int driver = 0;
  const bool have_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0;
  cudaGetLastError();
  out.push_back({"CUDA runtime", have_runtime ? cuda_version_string(runtime) : "unknown"});
  out.push_back({"CUDA driver", have_driver ? cuda_version_string(driver) : "none installed"});
#endif
#else
  out.push_back({"CUDA runtime", "not used in this build"});
#endif
#if KILN_WITH_CUDA
  out.push_back({"cuBLAS", fmt::format("{}.{}.{}", CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR, CUBLAS_VER_PATCH)});
  const size_t cudnn = cudnnGetVersion();
  out.push_back({"cuDNN", fmt::format("{}.{}.{} (headers {}.{}.{})", cudnn / 10000, (cudnn % 10000) / 100,
                                      cudnn % 100, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL)});
#else
  out.push_back({"cuBLAS", "not used in this build"});
  out.push_back({"cuDNN", "not used in this build"});
#endif
  out.push_back({"OpenBLAS", KILN_OPENBLAS_VERSION});
  return out;
}

}  // namespace kiln
