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

Workspace::Lease Workspace::borrow(size_t bytes) { return borrow(bytes, Stream::default_for(device_)); }

Workspace::Lease Workspace::borrow(size_t bytes, const Stream& stream) {
  KILN_CHECK(!borrowed_, "the {} workspace is already borrowed: an op asked for {} bytes while "
             "another op still holds it", device_.str(), bytes);
  KILN_CHECK(stream.device() == device_, "the {} workspace borrowed for a stream of {}", device_.str(),
             stream.device().str());
  if (bytes > capacity_) {
    grow(bytes, stream);
  } else if (buffer_ != nullptr && stream.native() != last_stream_) {
    hand_over(stream);
  }
  last_stream_ = stream.native();
  borrowed_ = true;
  return Lease(this, buffer_, bytes);
}

// The old buffer is freed through the allocator, which knows every stream that used it.
void Workspace::grow(size_t bytes, const Stream& stream) {
  CachingAllocator& allocator = allocator_for(device_);
  allocator.deallocate(std::exchange(buffer_, nullptr));
  capacity_ = 0;
  buffer_ = allocator.allocate(bytes, stream);
  capacity_ = bytes;
}

// `stream` is about to use the buffer the last lease's stream may still be using.
void Workspace::hand_over(const Stream& stream) {
  allocator_for(device_).record_stream(buffer_, stream);
  handoff_.record(Stream::wrap(device_, last_stream_));
  stream.wait(handoff_);
}

Workspace& workspace_for(Device device) {
  // One per device and host thread: ops from different threads never share scratch memory.
  thread_local std::map<std::pair<int, int>, std::unique_ptr<Workspace>> workspaces;
  auto& slot = workspaces[{static_cast<int>(device.type), device.index}];
  if (!slot) slot = std::make_unique<Workspace>(device);
  return *slot;
}

}  // namespace kiln
