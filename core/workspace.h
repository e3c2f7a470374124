// A scratch workspace per device that an op borrows for the duration of one call (im2col buffers,
// split-reduction partials, ...). It grows to the largest request seen and is reused after that,
// so steady-state training allocates nothing. One borrower at a time: a second borrow while a
// lease is alive is a bug and throws kiln::Error.
//
// A lease is taken for a stream, and ends when the host function returns, usually before the GPU
// has run the kernels queued on it. That is safe on the same stream: its next borrower's kernels
// queue behind them. A borrow from another stream first makes that stream wait (on the device,
// cudaStreamWaitEvent) for an event recorded on the previous lease's stream, which covers all work
// queued there by the end of that lease. When the workspace grows, the old buffer goes back to the
// stream-ordered allocator, which has been told (record_stream) of every stream that used it and
// lets no other stream reuse it before their work is done (core/allocator.h).
#pragma once

#include <cstddef>

#include "core/device.h"
#include "core/stream.h"

namespace kiln {

class Workspace {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    void* data() const { return data_; }
    template <class T> T* as() const { return static_cast<T*>(data_); }
    size_t bytes() const { return bytes_; }

   private:
    friend class Workspace;
    Lease(Workspace* owner, void* data, size_t bytes) : owner_(owner), data_(data), bytes_(bytes) {}
    Workspace* owner_;
    void* data_;
    size_t bytes_;
  };

  explicit Workspace(Device device) : device_(device), handoff_(device) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // `bytes` of scratch memory for work queued on `stream` until the lease ends.
  Lease borrow(size_t bytes, const Stream& stream);
  // The same on the device's default stream.
  Lease borrow(size_t bytes);
  size_t capacity() const { return capacity_; }
  Device device() const { return device_; }

 private:
  void grow(size_t bytes, const Stream& stream);
  void hand_over(const Stream& stream);
  Device device_;
  void* buffer_ = nullptr;
  size_t capacity_ = 0;
  bool borrowed_ = false;
  void* last_stream_ = nullptr;  // Stream::native() of the last lease
  Event handoff_;                // recorded on last_stream_ when another stream borrows
};

// The workspace of a device, for ops issued from the calling thread.
Workspace& workspace_for(Device device);

}  // namespace kiln
