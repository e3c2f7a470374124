// Gradient buckets (tools/dist/gradient_buckets.h): planned last layer first without splitting a
// layer, started while backward still runs, and, over the ranks of this process's job (one alone,
// two under `mpirun -np 2`: the Collectives.* filter of tests/dist/CMakeLists.txt), leaving every
// gradient equal to the mean of the ranks' gradients, on the CPU and (where built) cuda:0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/device.h"
#include "layers/net.h"
#include "layers/registry.h"
#include "tools/dist/bucket_transports.h"
#include "tools/dist/gradient_buckets.h"
#include "tools/dist/launch.h"

namespace kiln::dist {
namespace {

using I = int64_t;
constexpr int64_t kRows = 4, kIn = 5, kHidden = 7, kOut = 3;

// data (4, 5) -> fc1 (7) -> ReLU -> fc2 (3) -> MSELoss: 35 + 7 + 21 + 3 = 66 parameters.
Net small_net(Device device) {
  Net net = layers::build_net({{"data"}, {"target"}},
                              {{"Linear", "fc1", {}, {{"out_features", I{kHidden}}}},
                               {"ReLU", "relu", {}, {}},
                               {"Linear", "fc2", {}, {{"out_features", I{kOut}}}},
                               {"MSELoss", "loss", {"fc2", "target"}, {}}},
                              device);
  net.setup({{"data", {kRows, kIn}}, {"target", {kRows, kOut}}});
  net.init_parameters(5);
  return net;
}

// Inputs that differ from rank to rank (and from seed to seed).
std::vector<float> values(int64_t n, int rank, int seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7 + rank * 13 + seed * 3) % 11) / 8.0f - 0.6f;
  return v;
}

void forward_backward(Net& net, int rank) {
  const Tensor x = Tensor::from_host(values(kRows * kIn, rank, 1), Shape{kRows, kIn}).to(net.device());
  const Tensor t = Tensor::from_host(values(kRows * kOut, rank, 2), Shape{kRows, kOut}).to(net.device());
  net.zero_grad();
  net.forward({{"data", &x}, {"target", &t}});
  net.backward();
}

std::vector<std::string> names_of(const Bucket& b, Net& net) {
  std::vector<std::string> out;
  for (const Parameter* p : b.params) {
    for (const Net::ParamRef& r : net.parameters()) {
      if (r.param == p) out.push_back(r.name);
    }
  }
  return out;
}

TEST(Buckets, PlannedLastLayerFirstWithoutSplittingALayer) {
  Net net = small_net(Device::cpu());
  const std::vector<Bucket> tiny = plan_buckets(net, 1);  // every layer fills a bucket
  ASSERT_EQ(tiny.size(), 2u);
  EXPECT_EQ(names_of(tiny[0], net), (std::vector<std::string>{"fc2.bias", "fc2.weight"}));
  EXPECT_EQ(names_of(tiny[1], net), (std::vector<std::string>{"fc1.bias", "fc1.weight"}));
  EXPECT_EQ(tiny[0].elements, kOut * kHidden + kOut);
  const std::vector<Bucket> one = plan_buckets(net, 1 << 20);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].elements, 66);
  EXPECT_EQ(one[0].layers.size(), 2u);
  EXPECT_THROW(plan_buckets(net, 0), Error);
}

// A transport that records when buckets start, beside the Net's record of layer backwards.
class RecordingTransport final : public BucketTransport {
 public:
  explicit RecordingTransport(std::vector<std::string>& events) : events_(events) {}
  void start(const Bucket& bucket) override { events_.push_back("start " + std::to_string(bucket.elements)); }
  void finish() override { events_.push_back("finish"); }
  std::string describe() const override { return "recording"; }

 private:
  std::vector<std::string>& events_;
};

TEST(Buckets, StartWhileBackwardStillRunsLastLayerFirst) {
  Net net = small_net(Device::cpu());
  std::vector<std::string> events;
  net.set_layer_observer([&](const Layer& l, Net::Pass pass, bool begin) {
    if (pass == Net::Pass::Backward && begin) events.push_back("backward " + l.name());
  });
  GradientBuckets buckets(net, std::make_unique<RecordingTransport>(events), 1);
  for (int step = 0; step < 2; ++step) {  // the second step starts every bucket again
    events.clear();
    forward_backward(net, 0);
    buckets.finish();
    EXPECT_EQ(events, (std::vector<std::string>{"backward loss", "backward fc2", "start 24", "backward relu",
                                                "backward fc1", "start 42", "finish"}))
        << "step " << step;
  }
}

// Every rank's gradients after finish() are the mean of all ranks' (computed here with a blocking
// all-reduce of a copy). With 2 ranks the sum and the halving are exact, so the check is exact.
void expect_mean_of_the_ranks(Device device) {
  Communicator& comm = world();
  Net net = small_net(device);
  forward_backward(net, comm.rank());
  std::vector<std::vector<float>> want;
  for (const Net::ParamRef& p : net.parameters()) {
    std::vector<float> g = p.param->grad.to_host();
    comm.allreduce_sum(g.data(), static_cast<int64_t>(g.size()));
    for (float& v : g) v *= 1.0f / static_cast<float>(comm.size());
    want.push_back(std::move(g));
  }
  GradientBuckets buckets(net, make_transport(comm, net), 100);  // 100 bytes: a bucket per layer
  for (int step = 0; step < 2; ++step) {
    forward_backward(net, comm.rank());
    buckets.finish();
    size_t i = 0;
    for (const Net::ParamRef& p : net.parameters()) {
      EXPECT_EQ(p.param->grad.to_host(), want[i++]) << comm.describe() << ", " << device.str() << ", " << p.name
                                                    << ", step " << step;
    }
  }
  EXPECT_GE(buckets.seconds_waited(), 0.0);
}

TEST(Collectives, GradientBucketsLeaveTheMeanOfTheRanksGradientsOnTheCpu) { expect_mean_of_the_ranks(Device::cpu()); }

TEST(Collectives, GradientBucketsLeaveTheMeanOfTheRanksGradientsOnCuda) {
  // Every rank must reach the same collectives: the skip depends on the build only, never the rank.
  if (cuda_devices().empty()) GTEST_SKIP() << "no CUDA device in this build (the emulate and cuda builds have one)";
  expect_mean_of_the_ranks(Device::cuda(0));
}

}  // namespace
}  // namespace kiln::dist
