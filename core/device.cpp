#include "core/device.h"

#include <fmt/format.h>

#include <charconv>

#include "core/error.h"
#include "core/log.h"

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : fmt::format("cuda:{}", index);
}

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.starts_with("cuda:")) {
    std::string_view digits = text.substr(5);
    int index = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec == std::errc() && end == digits.data() + digits.size() && index >= 0) return cuda(index);
  }
  fail(fmt::format("unknown device '{}' (expected cpu, cuda or cuda:N)", text));
}

std::vector<DeviceInfo> cuda_devices(std::string* why_none) {
  std::vector<DeviceInfo> devices;
  auto none = [&](std::string why) {
    if (why_none) *why_none = std::move(why);
    return devices;
  };
#if !KILN_WITH_DEVICE
  return none("this kiln was built without GPU support (KILN_GPU=off)");
#else
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    if (status == cudaErrorNoDevice) return none("no CUDA-capable device is present");
    if (status == cudaErrorInsufficientDriver)
      return none("no usable NVIDIA driver: " + cuda_status_text(status));
    return none("the CUDA runtime cannot start: " + cuda_status_text(status));
  }
  if (count == 0) return none("no CUDA-capable device is present");
  int previous = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&previous));
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    DeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.total_memory = prop.totalGlobalMem;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
#if KILN_WITH_EMULATOR
    info.emulated = true;
#endif
    size_t free_bytes = 0, total_bytes = 0;
    KILN_CUDA_CHECK(cudaSetDevice(i));
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) info.free_memory = free_bytes;
    cudaGetLastError();
    devices.push_back(std::move(info));
  }
  KILN_CUDA_CHECK(cudaSetDevice(previous));
  return devices;
#endif
}

bool cuda_available(std::string* why_none) { return !cuda_devices(why_none).empty(); }

Device select_device(std::string_view request) {
  const bool automatic = request == "auto";
  const Device wanted = automatic ? Device::cuda(0) : Device::parse(request);
  if (wanted.is_cpu()) return wanted;
  std::string why;
  const auto devices = cuda_devices(&why);
  if (devices.empty()) {
    if (automatic) {
      log::info("no usable CUDA device ({}); running on the CPU", why);
      return Device::cpu();
    }
    fail(fmt::format("--device {} asked for a CUDA device, but {}; use --device cpu or auto",
                     request, why));
  }
  KILN_CHECK(wanted.index < static_cast<int>(devices.size()),
             "--device {}: there are only {} CUDA device(s) (cuda:0 to cuda:{})", request,
             devices.size(), devices.size() - 1);
  const DeviceInfo& info = devices[wanted.index];
  log::info("running on {} ({}{})", wanted.str(), info.name, info.emulated ? ", emulated on the CPU" : "");
  set_current_device(wanted);
  return wanted;
}

void set_current_device([[maybe_unused]] Device device) {
#if KILN_WITH_DEVICE
  if (device.is_cuda()) KILN_CUDA_CHECK(cudaSetDevice(device.index));
#endif
}

}  // namespace kiln
