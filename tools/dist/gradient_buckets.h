// Gradient averaging across the ranks of a data-parallel run, overlapped with backward (PyTorch
// DDP's design).
//
// The parameters are grouped, in reverse layer order (the order backward produces their
// gradients), into buckets of about `bucket_bytes`. The Net calls back after each layer's backward
// has been queued; once every gradient of a bucket is queued, the bucket's all-reduce starts (on a
// side stream after an event on a GPU) while backward goes on with the earlier layers. finish(),
// called after Net::backward, starts what is left (a layer that ran no backward), waits, and leaves
// every gradient equal to the mean over the ranks, ordered before whatever is queued on the
// compute stream next (clipping, the solver). Buckets start in the same order on every rank, as
// collectives require: the order of the layers, which is the same graph everywhere.
//
// Since each rank's loss is the mean over its N/R samples, the mean of the ranks' gradients is the
// gradient of the mean over the global batch: the single-process step, up to summation order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/net.h"

namespace kiln::dist {

struct Bucket {
  std::vector<Parameter*> params;  // in the order backward finishes them
  std::vector<const Layer*> layers;  // the layers owning them (a layer's parameters share a bucket)
  int64_t elements = 0;
  int pending = 0;  // layers whose backward is not queued yet in this step
  bool started = false;
};

// Groups the net's parameters, last layer first, into buckets of at least `bucket_bytes` (the last
// bucket may be smaller); a layer's parameters are never split across buckets.
std::vector<Bucket> plan_buckets(Net& net, int64_t bucket_bytes);

// How a bucket's gradients travel: MPI on host memory (the CPU path), MPI through host staging
// (a GPU without NCCL, the emulator), NCCL on the device (tools/dist/bucket_transports.h).
class BucketTransport {
 public:
  virtual ~BucketTransport() = default;
  // The bucket's gradients are queued on the compute stream: start summing them over the ranks.
  virtual void start(const Bucket& bucket) = 0;
  // Between layers: let started reductions advance. Never waits.
  virtual void poll() {}
  // Every started bucket summed over the ranks and its gradients divided by the rank count, ordered
  // before the compute stream's next work.
  virtual void finish() = 0;
  // "MPI on host memory" etc., for the log.
  virtual std::string describe() const = 0;
};

class GradientBuckets {
 public:
  // Hooks into `net` (Net::set_gradients_ready) until destroyed; the net must outlive this.
  GradientBuckets(Net& net, std::unique_ptr<BucketTransport> transport, int64_t bucket_bytes);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // After Net::backward: the gradients are the mean over the ranks.
  void finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }
  const BucketTransport& transport() const { return *transport_; }
  // Host seconds finish() has waited in all, over its calls: the all-reduce time backward did not
  // hide (on a GPU, the time to queue it: the device's wait shows in the step time).
  double seconds_waited() const { return waited_; }

 private:
  void on_layer(const Layer& layer);
  void start(Bucket& bucket);

  Net& net_;
  std::unique_ptr<BucketTransport> transport_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const Layer*, size_t> bucket_of_;  // the bucket holding a layer's parameters
  double waited_ = 0;
};

}  // namespace kiln::dist
