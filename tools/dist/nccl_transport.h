// The NCCL bucket transport (tools/dist/bucket_transports.h), built in the cuda flavour where CMake
// found NCCL (KILN_WITH_NCCL); elsewhere nccl_available() is false.
#pragma once

#include <memory>

#include "layers/net.h"
#include "tools/dist/communicator.h"
#include "tools/dist/gradient_buckets.h"

namespace kiln::dist {

bool nccl_available();

// One NCCL communicator over the job's ranks (its unique id sent from rank 0 through `comm`), on
// the net's device. Every rank calls it at the same point (a collective).
std::unique_ptr<BucketTransport> make_nccl_transport(Communicator& comm, Net& net);

}  // namespace kiln::dist
