// kiln::Stream: an ordered queue of work on one device. Every op launcher takes one.
// kiln::Event: a point in a stream's work that another stream or the host can wait for.
//
// On the CPU a stream is a tag (work runs on the calling thread, in order) and an event is always
// complete. On a CUDA device a stream owns a cudaStream_t (or names the device's default stream,
// or wraps one kiln does not own). Handles are stored as void* so this header needs no CUDA
// headers; kernels/launch.cuh turns them back into cudaStream_t / cudaEvent_t.
#pragma once

#include "core/device.h"

namespace kiln {

class Event;

class Stream {
 public:
  // The default stream of a device (never destroyed).
  static Stream default_for(Device device);
  // A new stream on the device (cudaStreamNonBlocking: no implicit synchronisation with the
  // default stream), destroyed with this object. On the CPU: a plain tag.
  static Stream create(Device device);
  // A cudaStream_t kiln does not own (another library's); never destroyed by kiln.
  static Stream wrap(Device device, void* native);

  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // An owned stream first finishes its queued work: the caching allocator keeps blocks per stream
  // handle, and a stream created later may get the same handle.
  ~Stream();

  Device device() const { return device_; }
  // The cudaStream_t as void* (nullptr: the legacy default stream, and always on the CPU).
  void* native() const { return handle_; }
  // The same queue of work (device and handle).
  bool same_as(const Stream& other) const { return device_ == other.device_ && handle_ == other.handle_; }
  // Blocks until all work queued so far has finished.
  void synchronize() const;
  // Work queued on this stream from now on runs after the work `event` marks (the device waits;
  // the host does not block). A no-op for an event never recorded, and on the CPU.
  void wait(const Event& event) const;

 private:
  Stream(Device device, void* handle, bool owned) : device_(device), handle_(handle), owned_(owned) {}
  Device device_;
  void* handle_ = nullptr;
  bool owned_ = false;
};

class Event {
 public:
  // The CUDA event is created at the first record() (an Event never recorded costs nothing).
  explicit Event(Device device) : device_(device) {}
  Event(Event&& other) noexcept;
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  // Marks the work queued on `stream` so far (a later record() moves the mark).
  void record(const Stream& stream);
  // True when the marked work has finished (or nothing was recorded).
  bool query() const;
  // Blocks the host until the marked work has finished.
  void synchronize() const;
  Device device() const { return device_; }
  // The cudaEvent_t as void* (nullptr until recorded, always on the CPU).
  void* native() const { return handle_; }

 private:
  Device device_;
  void* handle_ = nullptr;
};

}  // namespace kiln
