#include "core/stream.h"

#include <utility>

#include "core/error.h"
#include "core/log.h"

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {

#if KILN_WITH_DEVICE
namespace {
cudaStream_t cuda(void* handle) { return static_cast<cudaStream_t>(handle); }
cudaEvent_t cuda_event(void* handle) { return static_cast<cudaEvent_t>(handle); }
}  // namespace
#endif

Stream Stream::default_for(Device device) { return Stream(device, nullptr, false); }

Stream Stream::create(Device device) {
#if KILN_WITH_DEVICE
  if (device.is_cuda()) {
    set_current_device(device);
    cudaStream_t handle = nullptr;
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&handle, cudaStreamNonBlocking));
    return Stream(device, handle, true);
  }
#endif
  return Stream(device, nullptr, false);
}

Stream Stream::wrap(Device device, void* native) { return Stream(device, native, false); }

Stream::Stream(Stream&& other) noexcept
    : device_(other.device_), handle_(std::exchange(other.handle_, nullptr)),
      owned_(std::exchange(other.owned_, false)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Stream old(std::move(*this));
    device_ = other.device_;
    handle_ = std::exchange(other.handle_, nullptr);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Stream::~Stream() {
#if KILN_WITH_DEVICE
  if (owned_ && handle_) {
    try {
      // A GPU's error stays sticky for the next synchronising call; the emulator's deferred
      // streams throw the failure of queued work, which has nowhere else to go here.
      if (cudaStreamSynchronize(cuda(handle_)) != cudaSuccess) cudaGetLastError();
    } catch (const Error& e) {
      log::error("work queued on a stream being destroyed failed: {}", e.what());
    }
    cudaStreamDestroy(cuda(handle_));
  }
#endif
}

void Stream::synchronize() const {
#if KILN_WITH_DEVICE
  if (device_.is_cuda()) KILN_CUDA_CHECK(cudaStreamSynchronize(cuda(handle_)));
#endif
}

void Stream::wait([[maybe_unused]] const Event& event) const {
#if KILN_WITH_DEVICE
  if (device_.is_cuda() && event.native()) {
    set_current_device(device_);
    KILN_CUDA_CHECK(cudaStreamWaitEvent(cuda(handle_), cuda_event(event.native()), 0));
  }
#endif
}

Event::Event(Event&& other) noexcept : device_(other.device_), handle_(std::exchange(other.handle_, nullptr)) {}

Event::~Event() {
#if KILN_WITH_DEVICE
  if (handle_) cudaEventDestroy(cuda_event(handle_));
#endif
}

void Event::record([[maybe_unused]] const Stream& stream) {
#if KILN_WITH_DEVICE
  if (!device_.is_cuda()) return;
  set_current_device(device_);
  if (!handle_) {
    cudaEvent_t event = nullptr;
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    handle_ = event;
  }
  KILN_CUDA_CHECK(cudaEventRecord(cuda_event(handle_), cuda(stream.native())));
#endif
}

bool Event::query() const {
#if KILN_WITH_DEVICE
  if (!handle_) return true;
  const cudaError_t status = cudaEventQuery(cuda_event(handle_));
  if (status == cudaErrorNotReady) {
    cudaGetLastError();  // "not ready" is an answer, not an error
    return false;
  }
  KILN_CUDA_CHECK(status);
#endif
  return true;
}

void Event::synchronize() const {
#if KILN_WITH_DEVICE
  if (handle_) KILN_CUDA_CHECK(cudaEventSynchronize(cuda_event(handle_)));
#endif
}

}  // namespace kiln
