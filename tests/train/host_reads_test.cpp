// A training step on a GPU makes no device-to-host read: loss and accuracy are summed on the device
// and read every log_every steps (and at an epoch's end), and gradient clipping's norm and scale
// stay on the device. Counted at the CUDA runtime (tests/train/cuda_call_counter.h) while the
// trainer runs on cuda:0 (the emulator here).
#include <gtest/gtest.h>

#include <string>

#include "core/device.h"
#include "tests/train/cuda_call_counter.h"
#include "tests/train/helpers.h"

namespace kiln::train_test {
namespace {

using kiln::testing::cuda_call_counts;
using kiln::testing::CudaCallCounts;

// `steps` steps of the tiny CNN (clipping on, Adam) on cuda:0, logging every `log_every` steps, no
// evaluation and no checkpoint (they read the device by design); the runtime calls it made.
CudaCallCounts train_steps(int steps, int log_every, const std::string& solver, const std::string& train_extra = "") {
  TempDir dir;
  const std::string train = "epochs = 1\nbatch = 8\nseed = 7\nclip_grad_norm = 0.5\nlog_every = " +
                            std::to_string(log_every) + "\n" + train_extra;
  const std::string config = write_config(
      dir, "tiny.toml", tiny_cnn_config("source = \"synthetic\"\nsize = 160\nworkers = 0\n", solver, train));
  TrainOptions o;
  o.out_dir = dir.path("out");
  o.device = "cuda:0";
  o.steps = steps;
  o.evaluate_each_epoch = false;
  o.checkpoints = false;
  const CudaCallCounts before = cuda_call_counts();
  const TrainResult r = run_training(config, o);
  EXPECT_EQ(r.steps, steps);
  return cuda_call_counts() - before;
}

TEST(HostReads, StepsReadTheDeviceOnlyToLog) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "needs a CUDA device: " << why;
  for (const std::string solver : {"type = \"adam\"\nlr = 0.01\n", "type = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n"}) {
    SCOPED_TRACE(solver);
    // N steps with log_every = N: one read for the log line and one at the (stopped) epoch's end,
    // however large N is.
    const CudaCallCounts two = train_steps(2, 2, solver), twelve = train_steps(12, 12, solver);
    EXPECT_EQ(two.device_to_host, 2);
    EXPECT_EQ(twelve.device_to_host, 2);
    // log_every = 3 over 12 steps: 4 log lines + the end.
    EXPECT_EQ(train_steps(12, 3, solver).device_to_host, 5);
    // What remains per step is the batch's upload (x and labels), which does not wait: the
    // runtime stages pageable memory before cudaMemcpyAsync returns (core/tensor.cpp copy_bytes).
    EXPECT_EQ(twelve.host_to_device - two.host_to_device, 10 * 2);
    EXPECT_EQ(twelve.synchronize - two.synchronize, 0);
  }
}

// FP16 mixed precision keeps that: the loss scaler's overflow check, skip and scale update run on
// the device; its state is read only with the log lines (one more read each).
TEST(HostReads, Fp16LossScalingReadsTheDeviceOnlyToLog) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "needs a CUDA device: " << why;
  const std::string solver = "type = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n", fp16 = "precision = \"fp16\"\n";
  const CudaCallCounts two = train_steps(2, 2, solver, fp16), twelve = train_steps(12, 12, solver, fp16);
  EXPECT_EQ(twelve.device_to_host, two.device_to_host);
  EXPECT_EQ(two.device_to_host, 4);  // stats and scaler state, at the log line and at the epoch end
  EXPECT_EQ(twelve.synchronize - two.synchronize, 0);
}

}  // namespace
}  // namespace kiln::train_test
