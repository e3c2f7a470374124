#include "tools/dist/versions.h"

#include <fmt/format.h>

#if KILN_WITH_MPI
#include <mpi.h>
#endif
#if KILN_WITH_NCCL
#include <nccl.h>
#endif

namespace kiln::dist {

std::string mpi_version() {
#if KILN_WITH_MPI
  // Both calls are allowed before MPI_Init, so `kiln info` does not start MPI.
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  int major = 0, minor = 0;
  if (MPI_Get_library_version(text, &length) != MPI_SUCCESS || MPI_Get_version(&major, &minor) != MPI_SUCCESS) {
    return "unknown (MPI_Get_library_version failed)";
  }
  std::string library(text, static_cast<size_t>(length));
  library = library.substr(0, library.find_first_of("\r\n"));  // Open MPI's string has a release date line
  while (!library.empty() && (library.back() == ' ' || library.back() == '\0')) library.pop_back();
  return fmt::format("{} (MPI {}.{})", library, major, minor);
#else
  return "not built with MPI (apt-get install libopenmpi-dev openmpi-bin, then rebuild)";
#endif
}

std::string nccl_version() {
#if KILN_WITH_NCCL
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown (ncclGetVersion failed)";
  // Since NCCL 2.9 the code is major*10000 + minor*100 + patch.
  return fmt::format("{}.{}.{}", code / 10000, (code % 10000) / 100, code % 100);
#elif KILN_WITH_CUDA
  return "not built with NCCL (install libnccl-dev or NCCL beside the CUDA toolkit, then rebuild)";
#else
  return "not built with NCCL (GPU collectives need the cuda flavour)";
#endif
}

bool built_with_nccl() {
#if KILN_WITH_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace kiln::dist
