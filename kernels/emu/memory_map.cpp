// Which memory is the emulated device's: every cudaMalloc/cudaMallocManaged block and every
// cudaMallocHost (pinned) block is recorded here with its extent, so the emulator can refuse what a
// GPU refuses although all of it is host memory underneath (malloc, so ASan keeps seeing it):
//   - a kernel launched with a pointer argument into ordinary host memory (a GPU faults with
//     cudaErrorIllegalAddress the first time the kernel touches it);
//   - a cudaMemcpy whose kind does not match its pointers, or which runs past a device block
//     (undefined on a GPU: a wrong copy or a fault).
// Pinned host memory is host memory to cudaMemcpy, but a kernel may read it (unified addressing
// maps it into the device's address space), as on every GPU kiln supports.
#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"

namespace kiln::emu {

namespace {

struct Region {
  size_t bytes = 0;
  MemorySpace space = MemorySpace::Device;
};

std::mutex g_mutex;
uint64_t g_generation = 0;  // changes with every record and forget (access counting's snapshots)
std::map<uintptr_t, Region>& regions() {
  static auto* m = new std::map<uintptr_t, Region>();  // outlives static destructors
  return *m;
}

uintptr_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// The region holding p, or nullptr. With `end_too`, a pointer one past a region's end counts as in
// it (an empty view at the end of a tensor is a valid kernel argument); elsewhere it must not, as
// some allocators (TSan's) place the next block, possibly host memory, right there.
const std::pair<const uintptr_t, Region>* find_locked(const void* p, bool end_too = false) {
  const auto& m = regions();
  auto it = m.upper_bound(address(p));
  if (it == m.begin()) return nullptr;
  --it;
  const uintptr_t end = it->first + it->second.bytes;
  return address(p) < end || (end_too && address(p) == end) ? &*it : nullptr;
}

const char* space_name(MemorySpace s) {
  switch (s) {
    case MemorySpace::Device: return "device memory";
    case MemorySpace::PinnedHost: return "pinned host memory";
    case MemorySpace::Host: return "host memory";
  }
  return "memory";
}

const char* kind_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    case cudaMemcpyDefault: return "cudaMemcpyDefault";
  }
  return "an unknown cudaMemcpyKind";
}

// Why `count` bytes at p, which `kind` says are on the device (or not), cannot be copied; "" if
// they can.
std::string side_error(const char* role, const void* p, size_t count, bool on_device) {
  std::lock_guard lock(g_mutex);
  const auto* r = find_locked(p);
  const MemorySpace space = r ? r->second.space : MemorySpace::Host;
  if (on_device != (space == MemorySpace::Device)) {
    return fmt::format("the {} {} is {}", role, p, space_name(space));
  }
  if (r && address(p) + count > r->first + r->second.bytes) {
    return fmt::format("the {} {} has {} bytes left in its {}-byte allocation, {} asked", role, p,
                       r->first + r->second.bytes - address(p), r->second.bytes, count);
  }
  return {};
}

}  // namespace

void record_allocation(const void* p, size_t bytes, MemorySpace space) {
  if (!p) return;
  std::lock_guard lock(g_mutex);
  regions()[address(p)] = Region{bytes, space};
  ++g_generation;
}

bool forget_allocation(const void* p, MemorySpace space, size_t* bytes) {
  std::lock_guard lock(g_mutex);
  auto it = regions().find(address(p));
  if (it == regions().end() || it->second.space != space) return false;
  if (bytes) *bytes = it->second.bytes;
  regions().erase(it);
  ++g_generation;
  return true;
}

std::vector<std::pair<uintptr_t, uintptr_t>> global_ranges(uint64_t* generation) {
  std::lock_guard lock(g_mutex);
  if (generation) *generation = g_generation;
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  out.reserve(regions().size());
  for (const auto& [start, r] : regions()) out.emplace_back(start, start + r.bytes);
  return out;
}

uint64_t allocation_generation() {
  std::lock_guard lock(g_mutex);
  return g_generation;
}

MemorySpace memory_space(const void* p) {
  std::lock_guard lock(g_mutex);
  const auto* r = find_locked(p);
  return r ? r->second.space : MemorySpace::Host;
}

std::string copy_error(const char* call, void* dst, const void* src, size_t count,
                       cudaMemcpyKind kind) {
  if (count == 0 || kind == cudaMemcpyDefault) return {};
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) {
    return fmt::format("{} with cudaMemcpyKind {}, which does not exist", call, static_cast<int>(kind));
  }
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  std::string why = side_error("destination", dst, count, dst_device);
  if (why.empty()) why = side_error("source", src, count, src_device);
  return why.empty() ? why : fmt::format("{} with {}: {}", call, kind_name(kind), why);
}

void check_pointer_argument(const LaunchSpec& spec, size_t index, const void* p) {
  if (!p) return;
  {
    std::lock_guard lock(g_mutex);
    if (find_locked(p, /*end_too=*/true)) return;
  }
  throw Error(fmt::format("kernel {} gets a host pointer ({}) as argument {}: a GPU cannot read "
                          "ordinary host memory (the kernel would fail with "
                          "cudaErrorIllegalAddress); pass device memory (cudaMalloc, a kiln::Tensor "
                          "on the device) or pinned memory (cudaMallocHost)",
                          internal::kernel_str(spec), p, index + 1),
              spec.site);
}

}  // namespace kiln::emu
