// The communicator of a run without mpirun: one rank whose collectives leave the data as it is.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/common/error_of.h"
#include "tools/dist/single_process_communicator.h"

namespace kiln::dist {
namespace {

TEST(SingleProcess, IsRankZeroOfOne) {
  SingleProcessCommunicator c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.local_rank(), 0);
}

TEST(SingleProcess, CollectivesKeepTheData) {
  SingleProcessCommunicator c;
  std::vector<float> f{1.5f, -2.0f, 3.25f};
  std::vector<double> d{1e300, -0.5};
  std::vector<int64_t> i{int64_t{1} << 40, -7};
  std::vector<char> bytes{'k', 'i', 'l', 'n'};
  c.allreduce_sum(f.data(), static_cast<int64_t>(f.size()));
  c.allreduce_sum(d.data(), static_cast<int64_t>(d.size()));
  c.allreduce_sum(i.data(), static_cast<int64_t>(i.size()));
  c.broadcast(bytes.data(), static_cast<int64_t>(bytes.size()));
  c.barrier();
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(d, (std::vector<double>{1e300, -0.5}));
  EXPECT_EQ(i, (std::vector<int64_t>{int64_t{1} << 40, -7}));
  EXPECT_EQ(bytes, (std::vector<char>{'k', 'i', 'l', 'n'}));
}

TEST(SingleProcess, NegativeCountIsAnError) {
  SingleProcessCommunicator c;
  float x = 0;
  const std::string e = kiln::testing::error_of([&] { c.allreduce_sum(&x, -1); });
  EXPECT_NE(e.find("rank 0 of 1"), std::string::npos) << e;
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln::dist
