// kiln::emu::launch: a kernel launch checked against the GPU's limits (the same
// cudaErrorInvalidConfiguration cases), then run, grid and all, on the worker pool, at once or,
// with deferred streams, when its stream's work is needed (streams.cpp).
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/sanitizer.h"

namespace kiln::emu {

namespace internal {
std::atomic<const LaunchSpec*> g_current{nullptr};
char g_grid_end = 0;
}  // namespace internal

using internal::dim_str;
using internal::g_current;
using internal::kernel_str;
using internal::kMaxThreads;

namespace {

std::atomic<uint64_t> g_launches{0};

void run_now(const LaunchSpec& spec) {
  LaunchSpec run = spec;
  run.launch = ++g_launches;
  const LaunchSpec* previous = g_current.exchange(&run);
  struct Restore {
    const LaunchSpec* p;
    ~Restore() {
      g_current.store(p);
      san::acquire(&internal::g_grid_end);  // TSan: every GPU thread happens before the host
    }
  } restore{previous};
  internal::run_grid(run, run.grid.x * run.grid.y * run.grid.z);
}

// The queued launch owns a copy of the arguments: the caller's are gone when it runs.
void defer(const LaunchSpec& spec) {
  std::shared_ptr<void> args(spec.clone(spec.closure), spec.destroy);
  LaunchSpec owned = spec;
  owned.closure = args.get();
  internal::submit(spec.stream, [owned, args] { run_now(owned); });
}

}  // namespace

void launch(const LaunchSpec& spec) {
  const dim3 g = spec.grid, b = spec.block;
  const uint64_t threads = uint64_t{b.x} * b.y * b.z;
  const char* why = nullptr;
  if (b.x == 0 || b.y == 0 || b.z == 0) why = "a block dimension is 0";
  else if (b.x > 1024 || b.y > 1024 || b.z > 64) why = "block dimensions exceed (1024,1024,64)";
  else if (threads > kMaxThreads) why = "a block has more than 1024 threads";
  else if (g.x == 0 || g.y == 0 || g.z == 0) why = "a grid dimension is 0";
  else if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) why = "grid dimensions exceed (2^31-1,65535,65535)";
  else if (uint64_t{g.x} * g.y * g.z > 0xffffffffu) why = "the emulator runs at most 2^32-1 blocks";
  std::string shared_why;
  const char* error = "cudaErrorInvalidConfiguration";
  if (!why && spec.shared_bytes > 0) {
    const DeviceConfig& dev = device_config();
    const size_t allowed = max_dynamic_shared(spec.kernel);
    if (spec.shared_bytes > dev.shared_optin) {
      shared_why = fmt::format("dynamic shared memory exceeds the {} KiB a block may have on sm_{} "
                               "(sharedMemPerBlockOptin)",
                               dev.shared_optin / 1024, dev.sm);
    } else if (spec.shared_bytes > allowed) {
      shared_why = allowed == dev.shared_per_block
                       ? fmt::format("dynamic shared memory above {} KiB needs "
                                     "cudaFuncSetAttribute(kernel, "
                                     "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) first",
                                     dev.shared_per_block / 1024)
                       : fmt::format("dynamic shared memory exceeds the {} bytes set by "
                                     "cudaFuncSetAttribute(kernel, "
                                     "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)",
                                     allowed);
    }
    if (!shared_why.empty()) {
      why = shared_why.c_str();
      error = "cudaErrorInvalidValue";
    }
  }
  if (why) {
    throw Error(fmt::format("cannot launch kernel {} with grid {} block {} and {} bytes of dynamic "
                            "shared memory: {} ({})",
                            kernel_str(spec), dim_str(g.x, g.y, g.z), dim_str(b.x, b.y, b.z),
                            spec.shared_bytes, why, error),
                spec.site);
  }
  if (internal::deferring() && spec.clone) {
    defer(spec);
  } else {
    run_now(spec);
  }
}

}  // namespace kiln::emu
