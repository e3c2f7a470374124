#include "core/workspace.h"

#include <map>
#include <memory>
#include <utility>

#include "core/allocator.h"
#include "core/error.h"

namespace kiln {

Workspace::Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), data_(other.data_), bytes_(other.bytes_) {}

Workspace::Lease::~Lease() {
  if (owner_) owner_->borrowed_ = false;
}

Workspace::~Workspace() { allocator_for(device_).deallocate(buffer_); }

Workspace::Lease Workspace::borrow(size_t bytes) {
  KILN_CHECK(!borrowed_, "the {} workspace is already borrowed: an op asked for {} bytes while "
             "another op still holds it", device_.str(), bytes);
  if (bytes > capacity_) {
    CachingAllocator& allocator = allocator_for(device_);
    allocator.deallocate(std::exchange(buffer_, nullptr));
    capacity_ = 0;
    buffer_ = allocator.allocate(bytes);
    capacity_ = bytes;
  }
  borrowed_ = true;
  return Lease(this, buffer_, bytes);
}

Workspace& workspace_for(Device device) {
  // One per device and host thread: ops from different threads never share scratch memory.
  thread_local std::map<std::pair<int, int>, std::unique_ptr<Workspace>> workspaces;
  auto& slot = workspaces[{static_cast<int>(device.type), device.index}];
  if (!slot) slot = std::make_unique<Workspace>(device);
  return *slot;
}

}  // namespace kiln
