#include <gtest/gtest.h>

#include "core/error.h"
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

TEST(Workspace, PerDeviceInstanceIsStable) {
  EXPECT_EQ(&workspace_for(Device::cpu()), &workspace_for(Device::cpu()));
}

}  // namespace
}  // namespace kiln
