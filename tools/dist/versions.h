// The versions of the communication libraries this kiln was built with, for `kiln info`.
#pragma once

#include <string>

namespace kiln::dist {

// "Open MPI v4.1.4, ... (MPI 3.1)", or "not built with MPI (...)" saying what to install.
std::string mpi_version();
// "2.28.9" from the NCCL library loaded, or "not built with NCCL (...)".
std::string nccl_version();
// Whether CMake found NCCL for this build (the cuda flavour only: KILN_WITH_NCCL).
bool built_with_nccl();

}  // namespace kiln::dist
