#include "core/stream.h"

#include <utility>

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {

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
  if (owned_ && handle_) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
#endif
}

void Stream::synchronize() const {
#if KILN_WITH_DEVICE
  if (device_.is_cuda()) KILN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)));
#endif
}

}  // namespace kiln
