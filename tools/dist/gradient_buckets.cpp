#include "tools/dist/gradient_buckets.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::dist {

std::vector<Bucket> plan_buckets(Net& net, int64_t bucket_bytes) {
  KILN_CHECK(bucket_bytes > 0, "gradient bucket size {} bytes must be positive", bucket_bytes);
  std::vector<Net::ParamRef> params = net.parameters();
  std::reverse(params.begin(), params.end());
  std::vector<Bucket> buckets;
  Bucket current;
  const Layer* previous = nullptr;
  for (const Net::ParamRef& p : params) {
    // A new bucket once the current one is full, but only between layers: a layer's gradients are
    // all queued at once, so splitting them would gain no overlap.
    if (p.layer != previous && current.elements * int64_t{sizeof(float)} >= bucket_bytes) {
      buckets.push_back(std::move(current));
      current = Bucket{};
    }
    if (p.layer != previous) current.layers.push_back(p.layer);
    current.params.push_back(p.param);
    current.elements += p.param->grad.numel();
    previous = p.layer;
  }
  if (!current.params.empty()) buckets.push_back(std::move(current));
  return buckets;
}

GradientBuckets::GradientBuckets(Net& net, std::unique_ptr<BucketTransport> transport, int64_t bucket_bytes)
    : net_(net), transport_(std::move(transport)), buckets_(plan_buckets(net, bucket_bytes)) {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (const Layer* l : buckets_[b].layers) bucket_of_[l] = b;
    buckets_[b].pending = static_cast<int>(buckets_[b].layers.size());
  }
  net_.set_gradients_ready([this](const Layer& layer) { on_layer(layer); });
}

GradientBuckets::~GradientBuckets() { net_.set_gradients_ready({}); }

void GradientBuckets::on_layer(const Layer& layer) {
  const auto it = bucket_of_.find(&layer);
  if (it != bucket_of_.end()) {
    Bucket& b = buckets_[it->second];
    if (--b.pending == 0) start(b);
  }
  transport_->poll();
}

void GradientBuckets::start(Bucket& bucket) {
  bucket.started = true;
  transport_->start(bucket);
}

void GradientBuckets::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  // Layers that ran no backward this step (nothing downstream needed them) leave their buckets
  // waiting; their gradients are what zero_grad left, and the ranks still have to agree on them.
  for (Bucket& b : buckets_) {
    if (!b.started) start(b);
  }
  transport_->finish();
  for (Bucket& b : buckets_) {
    b.started = false;
    b.pending = static_cast<int>(b.layers.size());
  }
  waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace kiln::dist
