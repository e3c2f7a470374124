#include "tools/dist/bucket_transports.h"

#include <cstring>
#include <map>
#include <vector>

#include "core/stream.h"
#include "core/tensor.h"
#include "tools/dist/nccl_transport.h"

namespace kiln::dist {
namespace {

// What both MPI transports share: buckets started in order, MPI driven between layers, and in
// finish() the wait for every started reduction, then each bucket's sums turned into means.
class MpiBucketTransport : public BucketTransport {
 public:
  explicit MpiBucketTransport(Communicator& comm) : comm_(comm) {}
  void poll() override { comm_.progress(); }
  void finish() override {
    comm_.wait_all();
    const float inverse = 1.0f / static_cast<float>(comm_.size());
    for (const Bucket* bucket : started_) store_mean(*bucket, inverse);
    started_.clear();
    finished();
  }

 protected:
  // The bucket's reduced sums times `inverse` back in its gradients.
  virtual void store_mean(const Bucket& bucket, float inverse) = 0;
  // After every bucket is stored (ordering the compute stream after the side stream).
  virtual void finished() {}

  Communicator& comm_;
  std::vector<const Bucket*> started_;
};

// MPI on the CPU: each gradient of the bucket all-reduced in place (one non-blocking call per
// tensor: no packing copy, which for AlexNet's 244 MB was most of the cost); the gradients are final
// when GradientBuckets calls start(), since CPU work runs in order on the calling thread.
class HostMpiTransport final : public MpiBucketTransport {
 public:
  using MpiBucketTransport::MpiBucketTransport;

  void start(const Bucket& bucket) override {
    for (Parameter* p : bucket.params) comm_.start_allreduce_sum(p->grad.data<float>(), p->grad.numel());
    started_.push_back(&bucket);
  }
  std::string describe() const override { return "MPI on host memory"; }

 private:
  void store_mean(const Bucket& bucket, float inverse) override {
    for (Parameter* p : bucket.params) {
      float* g = p->grad.data<float>();
      for (int64_t i = 0, n = p->grad.numel(); i < n; ++i) g[i] *= inverse;
    }
  }
};

// MPI on a host copy of each bucket of a GPU's gradients: the copy to the host runs on a side
// stream after an event on the compute stream, and copy_bytes waits for it, so the MPI call reads
// finished gradients; the mean goes back on the side stream, which the compute stream waits for.
class StagedMpiTransport final : public MpiBucketTransport {
 public:
  StagedMpiTransport(Communicator& comm, Net& net)
      : MpiBucketTransport(comm), device_(net.device()), compute_(net.stream()), side_(Stream::create(device_)),
        ready_(device_), done_(device_) {}

  void start(const Bucket& bucket) override {
    std::vector<float>& host = buffers_[&bucket];
    host.resize(static_cast<size_t>(bucket.elements));
    ready_.record(compute_);
    side_.wait(ready_);
    int64_t offset = 0;
    for (const Parameter* p : bucket.params) {
      copy_bytes(host.data() + offset, Device::cpu(), p->grad.raw_data(), device_, p->grad.nbytes(), side_);
      offset += p->grad.numel();
    }
    comm_.start_allreduce_sum(host.data(), bucket.elements);
    started_.push_back(&bucket);
  }
  std::string describe() const override { return "MPI through host copies (no NCCL for this device)"; }

 private:
  void store_mean(const Bucket& bucket, float inverse) override {
    std::vector<float>& host = buffers_[&bucket];
    for (float& v : host) v *= inverse;
    int64_t offset = 0;
    for (Parameter* p : bucket.params) {
      copy_bytes(p->grad.raw_data(), device_, host.data() + offset, Device::cpu(), p->grad.nbytes(), side_);
      offset += p->grad.numel();
    }
  }
  void finished() override {
    done_.record(side_);
    compute_.wait(done_);
  }

  Device device_;
  const Stream& compute_;
  Stream side_;
  Event ready_, done_;
  std::map<const Bucket*, std::vector<float>> buffers_;  // one host buffer per bucket, kept between steps
};

}  // namespace

std::unique_ptr<BucketTransport> make_transport(Communicator& comm, Net& net) {
  if (net.device().is_cpu()) return std::make_unique<HostMpiTransport>(comm);
  if (nccl_available()) return make_nccl_transport(comm, net);
  return std::make_unique<StagedMpiTransport>(comm, net);
}

}  // namespace kiln::dist
