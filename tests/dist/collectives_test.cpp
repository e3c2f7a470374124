// The collectives of this process's communicator (tools/dist/launch.h world()), checked on every
// rank. CTest runs this binary both alone (one rank: the single-process communicator) and under
// `mpirun -np 2` (tests/dist/CMakeLists.txt), where each rank asserts its own results and mpirun
// fails when any rank does. Every rank must reach the same collectives in the same order, so the
// checks are EXPECTs placed after the calls, never an early return between them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/error_of.h"
#include "tools/dist/launch.h"

namespace kiln::dist {
namespace {

// The values below are small integers and quarters: every sum is exact in float whatever the
// order MPI adds in, so the comparisons can be exact.
TEST(Collectives, RanksAreDistinctAndTheJobHasTheExpectedSize) {
  Communicator& c = world();
  if (const char* want = std::getenv("KILN_TEST_EXPECT_RANKS")) {
    EXPECT_EQ(c.size(), std::atoi(want)) << c.describe();
  }
  EXPECT_GE(c.rank(), 0);
  EXPECT_LT(c.rank(), c.size());
  EXPECT_EQ(c.local_rank(), c.rank()) << "all ranks of the test run on this machine: " << c.describe();
  int64_t rank_sum = c.rank();
  c.allreduce_sum(&rank_sum, 1);
  EXPECT_EQ(rank_sum, int64_t{c.size()} * (c.size() - 1) / 2) << c.describe();
}

TEST(Collectives, AllreduceSumOfFloats) {
  Communicator& c = world();
  const int n = 1003, r = c.rank(), N = c.size();
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>((r + 1) * i) + 0.25f * static_cast<float>(r);
  c.allreduce_sum(x.data(), n);
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    const float want = static_cast<float>(i * N * (N + 1) / 2) + 0.25f * static_cast<float>(N * (N - 1) / 2);
    if (x[i] != want && wrong++ < 5) ADD_FAILURE() << c.describe() << ": x[" << i << "] = " << x[i] << ", want " << want;
  }
  EXPECT_EQ(wrong, 0) << c.describe();
}

TEST(Collectives, AllreduceSumOfDoublesAndCounts) {
  Communicator& c = world();
  const int r = c.rank(), N = c.size();
  std::vector<double> d{r + 0.5, -1.0 * r};
  c.allreduce_sum(d.data(), 2);
  EXPECT_EQ(d[0], N * (N - 1) / 2 + 0.5 * N) << c.describe();
  EXPECT_EQ(d[1], -1.0 * N * (N - 1) / 2) << c.describe();
  // Counts past 2^32 (a sample count over an epoch of a large data set) keep all their bits.
  std::vector<int64_t> counts{(int64_t{r} << 33) + 7, 1};
  c.allreduce_sum(counts.data(), 2);
  EXPECT_EQ(counts[0], (int64_t{N} * (N - 1) / 2 << 33) + 7 * N) << c.describe();
  EXPECT_EQ(counts[1], N) << c.describe();
}

TEST(Collectives, BroadcastCopiesRankZerosBytes) {
  Communicator& c = world();
  const int n = 257;
  auto pattern = [](int i) { return static_cast<unsigned char>(i * 7 + 3); };
  std::vector<unsigned char> bytes(n, 0xAB);
  if (c.rank() == 0) {
    for (int i = 0; i < n; ++i) bytes[i] = pattern(i);
  }
  c.broadcast(bytes.data(), n);
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += bytes[i] != pattern(i);
  EXPECT_EQ(wrong, 0) << c.describe();
}

TEST(Collectives, BarrierWaitsForTheSlowestRank) {
  Communicator& c = world();
  constexpr auto kDelay = std::chrono::milliseconds(300);
  c.barrier();  // start together
  const auto t0 = std::chrono::steady_clock::now();
  if (c.rank() == 0) std::this_thread::sleep_for(kDelay);
  c.barrier();
  const auto waited = std::chrono::steady_clock::now() - t0;
  // Every rank left the second barrier after rank 0 entered it; a barrier that did not wait
  // would let the other ranks through at once.
  EXPECT_GE(waited, kDelay - std::chrono::milliseconds(50))
      << c.describe() << " left the barrier after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
}

// Past 1 MiB MpiCommunicator waits for every rank in a timed barrier, then runs MPI's blocking
// call (tools/dist/mpi_communicator.cpp, kBlockingFromBytes): the same results.
TEST(Collectives, LargeAllreduceAndBroadcast) {
  Communicator& c = world();
  const int n = 300001, r = c.rank(), N = c.size();  // 1.2 MB of floats
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>((r + 1) * (i % 1000));
  c.allreduce_sum(x.data(), n);
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += x[i] != static_cast<float>((i % 1000) * N * (N + 1) / 2);
  EXPECT_EQ(wrong, 0) << c.describe();
  std::vector<unsigned char> bytes(2 << 20, static_cast<unsigned char>(r == 0 ? 0x5A : 0x00));
  c.broadcast(bytes.data(), static_cast<int64_t>(bytes.size()));
  wrong = 0;
  for (const unsigned char b : bytes) wrong += b != 0x5A;
  EXPECT_EQ(wrong, 0) << c.describe();
}

TEST(Collectives, StartedAllreducesSumExactlyAfterWaitAll) {
  Communicator& c = world();
  const int r = c.rank(), N = c.size();
  // Three buckets of different sizes, as the gradient buckets of a backward pass.
  std::vector<std::vector<float>> buckets{std::vector<float>(1), std::vector<float>(4099), std::vector<float>(77)};
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (size_t i = 0; i < buckets[b].size(); ++i) buckets[b][i] = static_cast<float>((r + 1) * (i + b)) + 0.5f;
    c.start_allreduce_sum(buckets[b].data(), static_cast<int64_t>(buckets[b].size()));
    c.progress();
  }
  c.wait_all();
  int wrong = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (size_t i = 0; i < buckets[b].size(); ++i) {
      const float want = static_cast<float>((i + b) * N * (N + 1) / 2) + 0.5f * static_cast<float>(N);
      if (buckets[b][i] != want && wrong++ < 5) {
        ADD_FAILURE() << c.describe() << ": bucket " << b << "[" << i << "] = " << buckets[b][i] << ", want " << want;
      }
    }
  }
  EXPECT_EQ(wrong, 0) << c.describe();
  // Nothing started: wait_all returns at once (and, under MPI, still counts as a collective on
  // every rank, so the next one is numbered alike).
  c.wait_all();
  int64_t one = 1;
  c.set_next_label("the test all-reduce after wait_all");
  c.allreduce_sum(&one, 1);
  EXPECT_EQ(one, N) << c.describe();
}

TEST(Collectives, ATimeoutIsSecondsAtLeastZero) {
  Communicator& c = world();
  c.set_timeout(120);
  if (c.size() > 1) {
    float x = 0;
    EXPECT_NE(kiln::testing::error_of([&] { c.set_timeout(-1); }).find("-1"), std::string::npos);
    c.allreduce_sum(&x, 1);  // still works with the new timeout
    EXPECT_EQ(x, 0);
  }
  c.set_timeout(kDefaultCollectiveTimeout);
}

TEST(Collectives, ErrorsNameTheRankAndTheCall) {
  Communicator& c = world();
  float x = 0;
  const std::string e = kiln::testing::error_of([&] { c.allreduce_sum(&x, -1); });
  EXPECT_NE(e.find("rank " + std::to_string(c.rank())), std::string::npos) << e;
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln::dist
