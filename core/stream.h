// kiln::Stream: an ordered queue of work on one device. Every op launcher takes one.
//
// On the CPU a stream is a tag (work runs on the calling thread, in order). On a CUDA device it
// owns a cudaStream_t (or names the device's default stream). The handle is stored as void* so
// this header needs no CUDA headers; kernels/launch.cuh turns it back into a cudaStream_t.
#pragma once

#include "core/device.h"

namespace kiln {

class Stream {
 public:
  // The default stream of a device (never destroyed).
  static Stream default_for(Device device);
  // A new stream on the device, destroyed with this object. On the CPU: a plain tag.
  static Stream create(Device device);

  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  Device device() const { return device_; }
  // The cudaStream_t as void* (nullptr: the legacy default stream, and always on the CPU).
  void* native() const { return handle_; }
  // Blocks until all work queued so far has finished.
  void synchronize() const;

 private:
  Stream(Device device, void* handle, bool owned) : device_(device), handle_(handle), owned_(owned) {}
  Device device_;
  void* handle_ = nullptr;
  bool owned_ = false;
};

}  // namespace kiln
