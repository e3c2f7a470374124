#include <gtest/gtest.h>

#include "core/error.h"
#include "core/stream.h"
#include "core/workspace.h"

namespace kiln {
namespace {

TEST(Workspace, GrowsToTheLargestRequestAndIsReused) {
  Workspace ws(Device::cpu());
  void* first = nullptr;
  {
    auto lease = ws.borrow(1000);
    first = lease.data();
    EXPECT_EQ(lease.bytes(), 1000u);
  }
  {
    auto lease = ws.borrow(500);
    EXPECT_EQ(lease.data(), first);  // smaller: same buffer
  }
  {
    auto lease = ws.borrow(100000);
    EXPECT_GE(ws.capacity(), 100000u);
  }
}

TEST(Workspace, OneBorrowerAtATime) {
  Workspace ws(Device::cpu());
  auto lease = ws.borrow(64);
  EXPECT_THROW(ws.borrow(64), Error);
}

TEST(Workspace, LeasesForStreamsOfTheHostShareTheBuffer) {
  Workspace ws(Device::cpu());
  const Stream a = Stream::create(Device::cpu()), b = Stream::default_for(Device::cpu());
  void* first = ws.borrow(1000, a).data();
  EXPECT_EQ(ws.borrow(800, b).data(), first);  // host work is done when the lease ends
  EXPECT_THROW(ws.borrow(10, Stream::wrap(Device::cuda(0), nullptr)), Error);  // another device
}

TEST(Workspace, PerDeviceInstanceIsStable) {
  EXPECT_EQ(&workspace_for(Device::cpu()), &workspace_for(Device::cpu()));
}

}  // namespace
}  // namespace kiln
