// The ways a gradient bucket travels between the ranks (tools/dist/gradient_buckets.h):
//   host MPI     the CPU path: a non-blocking MPI all-reduce on each gradient in place, divided by
//                the rank count in finish()
//   staged MPI   a GPU without NCCL (and the emulator): the same, the gradients copied to the host
//                on a side stream once an event says backward has queued them, and back after
//   NCCL         a GPU with NCCL (the cuda build): ncclAllReduce with ncclAvg on the gradients in
//                place, on a side stream that waits for an event on the compute stream; the compute
//                stream waits for the side stream in finish(), so the host never blocks
// All three start buckets in the order GradientBuckets does, which is the same on every rank.
#pragma once

#include <memory>

#include "layers/net.h"
#include "tools/dist/communicator.h"
#include "tools/dist/gradient_buckets.h"

namespace kiln::dist {

// NCCL for a CUDA net when this build has it (one device per rank: the net's), else MPI through
// the host; host MPI for a CPU net. `comm` and `net` must outlive the transport.
std::unique_ptr<BucketTransport> make_transport(Communicator& comm, Net& net);

}  // namespace kiln::dist
