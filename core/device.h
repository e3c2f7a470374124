// kiln::Device: where a tensor's memory lives and where its ops run. A CUDA device is a real GPU
// in the `cuda` build and the CPU-backed emulated GPU in the `emulate` build; the `off` build
// has none. Choosing a device is one explicit decision at start-up (select_device), logged once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

enum class DeviceType : uint8_t { Cpu, Cuda };

struct Device {
  DeviceType type = DeviceType::Cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::Cpu, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::Cuda, index}; }
  bool is_cpu() const { return type == DeviceType::Cpu; }
  bool is_cuda() const { return type == DeviceType::Cuda; }
  friend bool operator==(const Device&, const Device&) = default;

  // "cpu", "cuda:0".
  std::string str() const;
  // Parses "cpu", "cuda", "cuda:N"; throws kiln::Error naming the text otherwise.
  static Device parse(std::string_view text);
};

// What the runtime reports about one CUDA device.
struct DeviceInfo {
  int index = 0;
  std::string name;
  uint64_t total_memory = 0;
  uint64_t free_memory = 0;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  bool emulated = false;
};

// The CUDA devices usable by this build, or an empty list with the reason in *why_none
// ("built without GPU support", "no CUDA driver: ...", "no CUDA-capable device").
std::vector<DeviceInfo> cuda_devices(std::string* why_none = nullptr);
bool cuda_available(std::string* why_none = nullptr);

// The device a run asked for: "auto" (a CUDA device if usable, else the CPU, saying why in one
// log line), "cpu", "cuda" or "cuda:N" (a kiln::Error with the reason if not usable).
Device select_device(std::string_view request);

// Makes `device` current for the calling thread (no-op on the CPU).
void set_current_device(Device device);

}  // namespace kiln
