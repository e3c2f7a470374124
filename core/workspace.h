// A scratch workspace per device that an op borrows for the duration of one call (im2col buffers,
// split-reduction partials, ...). It grows to the largest request seen and is reused after that,
// so steady-state training allocates nothing. One borrower at a time: a second borrow while a
// lease is alive is a bug and throws kiln::Error.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace kiln {

class Workspace {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
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

  explicit Workspace(Device device) : device_(device) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  Lease borrow(size_t bytes);
  size_t capacity() const { return capacity_; }
  Device device() const { return device_; }

 private:
  Device device_;
  void* buffer_ = nullptr;
  size_t capacity_ = 0;
  bool borrowed_ = false;
};

// The workspace of a device, for ops issued from the calling thread.
Workspace& workspace_for(Device device);

}  // namespace kiln
