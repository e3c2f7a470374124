#include "tools/dist/nccl_transport.h"

#include <fmt/format.h>

#include "core/error.h"

#if KILN_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include "core/stream.h"
#endif

namespace kiln::dist {

#if KILN_WITH_NCCL
namespace {

void check_nccl(ncclResult_t rc, const char* call, int rank) {
  KILN_CHECK(rc == ncclSuccess, "{} failed on rank {}: {}", call, rank, ncclGetErrorString(rc));
}

// ncclAllReduce with ncclAvg on each gradient in place (no packing copy: one NCCL group per bucket
// fuses the calls), on a side stream ordered after the compute stream by an event; finish() makes
// the compute stream wait for the side stream. The host never waits.
class NcclTransport final : public BucketTransport {
 public:
  NcclTransport(Communicator& comm, Net& net)
      : rank_(comm.rank()), compute_(net.stream()), side_(Stream::create(net.device())), ready_(net.device()),
        done_(net.device()) {
    ncclUniqueId id{};
    if (comm.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", rank_);
    comm.broadcast(&id, sizeof id);
    KILN_CHECK(cudaSetDevice(net.device().index) == cudaSuccess, "cudaSetDevice({}) failed on rank {}",
               net.device().index, rank_);
    check_nccl(ncclCommInitRank(&nccl_, comm.size(), id, comm.rank()), "ncclCommInitRank", rank_);
  }
  ~NcclTransport() override {
    side_.synchronize();
    ncclCommDestroy(nccl_);
  }
  NcclTransport(const NcclTransport&) = delete;
  NcclTransport& operator=(const NcclTransport&) = delete;

  void start(const Bucket& bucket) override {
    ready_.record(compute_);
    side_.wait(ready_);
    auto* stream = static_cast<cudaStream_t>(side_.native());
    check_nccl(ncclGroupStart(), "ncclGroupStart", rank_);
    for (Parameter* p : bucket.params) {
      float* g = p->grad.data<float>();
      check_nccl(ncclAllReduce(g, g, static_cast<size_t>(p->grad.numel()), ncclFloat, ncclAvg, nccl_, stream),
                 "ncclAllReduce", rank_);
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd", rank_);
  }

  void finish() override {
    done_.record(side_);
    compute_.wait(done_);
  }

  std::string describe() const override { return "NCCL on the device"; }

 private:
  int rank_;
  const Stream& compute_;
  Stream side_;
  Event ready_, done_;
  ncclComm_t nccl_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<BucketTransport> make_nccl_transport(Communicator& comm, Net& net) {
  return std::make_unique<NcclTransport>(comm, net);
}

#else

bool nccl_available() { return false; }

std::unique_ptr<BucketTransport> make_nccl_transport(Communicator& comm, Net&) {
  fail(fmt::format("rank {}: this kiln was built without NCCL (the cuda build links it from the CUDA toolkit)",
                   comm.rank()));
}

#endif

}  // namespace kiln::dist
