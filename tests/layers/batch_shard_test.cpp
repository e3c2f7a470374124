// Data-parallel sharding (Net::set_batch_shard, Layer::set_batch_shard): a net run on a global
// batch of 8 in one process equals two nets (same seed) run on rows [0, 4) and [4, 8) with
// set_batch_shard(0, 8) / (4, 8): the same dropout masks per sample, forward and backward, step
// after step (every shard advances the Philox offset by the global draw), on the CPU and on cuda:0
// where present. The checkpointed rng_state still resumes a sharded run exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "layers/net.h"
#include "layers/registry.h"
#include "tests/layers/helpers.h"

namespace kiln {
namespace {

using namespace kiln::testing;
using I = int64_t;

constexpr int64_t kBatch = 8, kSteps = 3, kFeatures = 5, kOut = 6;

// data (N, T, F) -> Dropout (dim 0 = N) -> TimeFlatten (N*T, F) -> Linear (N*T, 6) -> Dropout
// (dim 0 = N*T rows, sample-major: per_sample = T*6) -> MSELoss against target (N*T, 6).
std::vector<LayerSpec> specs() {
  return {
      {"Dropout", "drop_in", {}, {{"p", 0.3}}},
      {"TimeFlatten", "flat", {}, {}},
      {"Linear", "fc", {}, {{"out_features", I{kOut}}}},
      {"Dropout", "drop", {}, {{"p", 0.5}}},
      {"MSELoss", "loss", {"drop", "target"}, {}},
  };
}

Net make_net(Device device, int64_t rows) {
  Net net = layers::build_net({{"data"}, {"target"}}, specs(), device);
  net.setup({{"data", {rows, kSteps, kFeatures}}, {"target", {rows * kSteps, kOut}}});
  net.init_parameters(31);
  net.keep("drop_in");
  net.keep("drop");
  return net;
}

// Rows [lo, hi) of a host tensor whose dim 0 is the sample (or sample-major row) index.
Tensor rows(const std::vector<float>& all, const Shape& shape, int64_t lo, int64_t hi, Device device) {
  const int64_t per = shape.numel() / shape[0];
  std::vector<int64_t> dims{hi - lo};
  for (int i = 1; i < shape.rank(); ++i) dims.push_back(shape[i]);
  const Shape s(dims.begin(), dims.end());
  return Tensor::from_host(std::span<const float>(all).subspan(static_cast<size_t>(lo * per),
                                                               static_cast<size_t>((hi - lo) * per)),
                           s)
      .to(device);
}

struct Step {
  std::vector<float> drop_in, drop, weight_grad;
};

Step run_step(Net& net, const Tensor& x, const Tensor& t) {
  net.zero_grad();
  net.forward({{"data", &x}, {"target", &t}});
  net.backward();
  return Step{.drop_in = net.output("drop_in").to_host(),
              .drop = net.output("drop").to_host(),
              .weight_grad = net.layer("fc").parameters()[0].grad.to_host()};
}

void expect_shards_equal_whole(Device device) {
  const Shape xs{kBatch, kSteps, kFeatures}, ts{kBatch * kSteps, kOut};
  Net whole = make_net(device, kBatch), a = make_net(device, kBatch / 2), b = make_net(device, kBatch / 2);
  a.set_batch_shard(0, kBatch);
  b.set_batch_shard(kBatch / 2, kBatch);
  for (int step = 0; step < 2; ++step) {
    SCOPED_TRACE(device.str() + ", step " + std::to_string(step));
    const std::vector<float> x = random_tensor(xs, 10 + step).to_host(), t = random_tensor(ts, 20 + step).to_host();
    const Step w = run_step(whole, rows(x, xs, 0, kBatch, device), rows(t, ts, 0, kBatch * kSteps, device));
    const Step sa = run_step(a, rows(x, xs, 0, kBatch / 2, device), rows(t, ts, 0, kBatch / 2 * kSteps, device));
    const Step sb = run_step(b, rows(x, xs, kBatch / 2, kBatch, device),
                             rows(t, ts, kBatch / 2 * kSteps, kBatch * kSteps, device));
    // Forward: the concatenation of the shards' outputs is the whole batch's, bit for bit.
    std::vector<float> cat = sa.drop_in;
    cat.insert(cat.end(), sb.drop_in.begin(), sb.drop_in.end());
    EXPECT_EQ(cat, w.drop_in);
    cat = sa.drop;
    cat.insert(cat.end(), sb.drop.begin(), sb.drop.end());
    EXPECT_EQ(cat, w.drop);
    // Backward: the mean loss over half the rows doubles each row's gradient, so the whole batch's
    // weight gradient is the mean of the shards' (equal up to the order of the row sums).
    ASSERT_EQ(sa.weight_grad.size(), w.weight_grad.size());
    for (size_t i = 0; i < w.weight_grad.size(); ++i) {
      const float mean = 0.5f * (sa.weight_grad[i] + sb.weight_grad[i]);
      EXPECT_NEAR(mean, w.weight_grad[i], 1e-6 + 1e-5 * std::fabs(w.weight_grad[i])) << i;
    }
    // Every shard advanced the offsets as the whole batch did.
    EXPECT_EQ(a.rng_state(), whole.rng_state());
    EXPECT_EQ(b.rng_state(), whole.rng_state());
  }
}

TEST(BatchShard, TwoShardsEqualTheWholeBatchOnCpu) { expect_shards_equal_whole(Device::cpu()); }

TEST(BatchShard, TwoShardsEqualTheWholeBatchOnCuda) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << why;
  expect_shards_equal_whole(Device::cuda(0));
}

TEST(BatchShard, ShardedRunResumesFromRngState) {
  const Shape xs{kBatch / 2, kSteps, kFeatures}, ts{kBatch / 2 * kSteps, kOut};
  const Tensor x = random_tensor(xs, 1), t = random_tensor(ts, 2);
  Net a = make_net(Device::cpu(), kBatch / 2);
  a.set_batch_shard(kBatch / 2, kBatch);
  run_step(a, x, t);
  const auto state = a.rng_state();
  const Step second = run_step(a, x, t);
  Net c = make_net(Device::cpu(), kBatch / 2);
  c.set_batch_shard(kBatch / 2, kBatch);
  c.set_rng_state(state);
  const Step resumed = run_step(c, x, t);
  EXPECT_EQ(resumed.drop, second.drop);
  EXPECT_EQ(resumed.drop_in, second.drop_in);
  EXPECT_EQ(c.rng_state(), a.rng_state());
}

TEST(BatchShard, DropoutLayerBackwardUsesTheShardMask) {
  // The layer alone (no Net): dim 0 is the sample index. Backward of dy = 1 is the mask * scale.
  auto whole = make("Dropout", "d", {{"p", 0.5}});
  auto lo = make("Dropout", "d", {{"p", 0.5}}), hi = make("Dropout", "d", {{"p", 0.5}});
  for (auto* l : {&whole, &lo, &hi}) (*l)->set_seed(99);
  lo->set_batch_shard(0, 5);
  hi->set_batch_shard(2, 5);
  const Tensor x = random_tensor({5, 7}, 3);
  const std::vector<float> xv = x.to_host();
  auto grad = [](Layer& l, const Tensor& in) {
    const Tensor y = l.forward({&in}, cpu_stream());
    const std::vector<float> dyv(static_cast<size_t>(in.numel()), 1.0f);
    const Tensor dy = Tensor::from_host(std::span<const float>(dyv), in.shape());
    Tensor dx = Tensor::empty(in.shape());
    BackwardArgs args{.inputs = {nullptr}, .output = nullptr, .grad_output = &dy, .grad_inputs = {&dx},
                      .loss_scale = 1.0f, .stream = cpu_stream()};
    l.backward(args);
    return std::pair{y.to_host(), dx.to_host()};
  };
  const auto [yw, dw] = grad(*whole, x);
  const auto [y0, d0] = grad(*lo, rows(xv, {5, 7}, 0, 2, Device::cpu()));
  const auto [y1, d1] = grad(*hi, rows(xv, {5, 7}, 2, 5, Device::cpu()));
  std::vector<float> y = y0, d = d0;
  y.insert(y.end(), y1.begin(), y1.end());
  d.insert(d.end(), d1.begin(), d1.end());
  EXPECT_EQ(y, yw);
  EXPECT_EQ(d, dw);
  EXPECT_EQ(lo->rng_state(), whole->rng_state());
  EXPECT_EQ(hi->rng_state(), whole->rng_state());
  EXPECT_THAT(error_of([&] { lo->set_batch_shard(5, 5); }), ::testing::HasSubstr("set_batch_shard"));
}

TEST(BatchShard, TimeMajorRecurrentLayerRefusesToBeSharded) {
  Net net = layers::build_net({{"data"}}, {{"LSTM", "lstm", {}, {{"hidden_size", I{3}}, {"batch_first", false}}}});
  EXPECT_THAT(error_of([&] { net.set_batch_shard(0, 8); }), ::testing::HasSubstr("batch_first = false"));
  Net ok = layers::build_net({{"data"}}, {{"LSTM", "lstm", {}, {{"hidden_size", I{3}}}}});
  EXPECT_NO_THROW(ok.set_batch_shard(4, 8));
  EXPECT_THAT(error_of([&] { ok.set_batch_shard(8, 8); }), ::testing::HasSubstr("set_batch_shard"));
}

}  // namespace
}  // namespace kiln
