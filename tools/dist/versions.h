// The versions of the communication libraries this kiln was built with, for `kiln info`.
#pragma once

#include <string>

namespace kiln::dist {

// "Open MPI v4.1.4, ... (MPI 3.1)", or "not built with MPI (...)" saying what to install.
std::string mpi_version();
// "2.28.9" from the NCCL library loaded, or "not built with NCCL (...)".
std::string nccl_version();

}  // namespace kiln::dist
