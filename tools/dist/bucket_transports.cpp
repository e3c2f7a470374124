#include "tools/dist/bucket_transports.h"

#include <cstring>
#include <map>
#include <vector>

#include "core/stream.h"
#include "core/tensor.h"
#include "tools/dist/nccl_transport.h"

namespace kiln::dist {
namespace {

// MPI on a host copy of each bucket. On the CPU the gradients are final when GradientBuckets calls
// start() (CPU work runs in order on the calling thread); on a GPU the copy to the host runs on a
// side stream after an event on the compute stream, and copy_bytes waits for it, so the MPI call
// reads finished gradients.
class MpiTransport final : public BucketTransport {
 public:
  MpiTransport(Communicator& comm, Net& net)
      : comm_(comm),
        device_(net.device()),
        compute_(net.stream()),
        side_(device_.is_cpu() ? Stream::default_for(device_) : Stream::create(device_)),
        ready_(device_),
        done_(device_) {}

  void start(const Bucket& bucket) override {
    std::vector<float>& host = buffers_[&bucket];
    host.resize(static_cast<size_t>(bucket.elements));
    if (!device_.is_cpu()) {
      ready_.record(compute_);
      side_.wait(ready_);
    }
    int64_t offset = 0;
    for (const Parameter* p : bucket.params) {
      copy_bytes(host.data() + offset, Device::cpu(), p->grad.raw_data(), device_, p->grad.nbytes(), side_);
      offset += p->grad.numel();
    }
    comm_.start_allreduce_sum(host.data(), bucket.elements);
    started_.push_back(&bucket);
  }

  void poll() override { comm_.progress(); }

  void finish() override {
    comm_.wait_all();
    const float inverse = 1.0f / static_cast<float>(comm_.size());
    for (const Bucket* bucket : started_) {
      std::vector<float>& host = buffers_[bucket];
      for (float& v : host) v *= inverse;
      int64_t offset = 0;
      for (Parameter* p : bucket->params) {
        copy_bytes(p->grad.raw_data(), device_, host.data() + offset, Device::cpu(), p->grad.nbytes(), side_);
        offset += p->grad.numel();
      }
    }
    started_.clear();
    if (!device_.is_cpu()) {
      done_.record(side_);
      compute_.wait(done_);
    }
  }

  std::string describe() const override {
    return device_.is_cpu() ? "MPI on host memory" : "MPI through host copies (no NCCL for this device)";
  }

 private:
  Communicator& comm_;
  Device device_;
  const Stream& compute_;
  Stream side_;
  Event ready_, done_;
  std::map<const Bucket*, std::vector<float>> buffers_;  // one host buffer per bucket, kept between steps
  std::vector<const Bucket*> started_;
};

}  // namespace

std::unique_ptr<BucketTransport> make_host_mpi_transport(Communicator& comm, Net& net) {
  return std::make_unique<MpiTransport>(comm, net);
}

std::unique_ptr<BucketTransport> make_transport(Communicator& comm, Net& net) {
  if (net.device().is_cuda() && nccl_available()) return make_nccl_transport(comm, net);
  return make_host_mpi_transport(comm, net);
}

}  // namespace kiln::dist
