// Access counting: what Nsight Compute's memory tables would say about a kernel, counted on the
// emulator (kernels/emu/README.md, "Access counting"). Only a KILN_EMU_ACCESS=ON build (GCC's
// kernel-address instrumentation on the GPU sources) sees the kernels' loads and stores; every
// other build has the same functions, and start() says it cannot count.
//
// Per kernel and per load/store site (source file:line), over the launches between start() and
// stop():
//   - global memory: 32-byte sectors per request (a request is one warp-wide execution of the
//     site by its active lanes; the k-th execution of a site by each lane of a warp is one request);
//   - shared memory: wavefronts per request (32 banks of 4 bytes; lanes reading one word share it;
//     8- and 16-byte accesses are served per half- and quarter-warp);
//   - the global bytes the sectors amount to, and the distinct bytes the kernel touched.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

namespace kiln::emu {
struct LaunchSpec;
}

namespace kiln::emu::access {

#if defined(KILN_EMU_ACCESS_COUNT)
inline constexpr bool kBuilt = true;
#else
inline constexpr bool kBuilt = false;
#endif

struct Site {
  std::string location;  // "kernels/gemm_tile.cuh:120" (the innermost frame outside kernels/emu/)
  bool shared = false;   // shared memory, else global
  bool store = false;
  uint32_t bytes = 0;        // per lane and request (a vector access is one request)
  uint64_t requests = 0;
  uint64_t lanes = 0;        // active lanes, summed over requests
  uint64_t units = 0;        // sectors (global) or wavefronts (shared), summed over requests
  uint64_t ideal_units = 0;  // the same if the bytes asked for were contiguous / conflict-free
  double per_request() const { return requests ? double(units) / double(requests) : 0.0; }
  double ideal_per_request() const { return requests ? double(ideal_units) / double(requests) : 0.0; }
};

struct Kernel {
  std::string name;  // "gemm_tile_kernel<...>(...)"
  uint64_t launches = 0;
  uint64_t load_sectors = 0, store_sectors = 0;  // global sectors, summed over requests
  uint64_t unique_bytes = 0;  // distinct global sectors touched, x 32, summed over launches
  std::vector<Site> sites;    // by location
};

// Clears the figures and starts counting launches (throws kiln::Error in a build without
// KILN_EMU_ACCESS). Counting is process-wide; the figures of stop() cover every launch between.
void start();
std::vector<Kernel> stop();
bool counting();

// A table for people, and JSON for tools/kernel_report.
std::string format_table(const std::vector<Kernel>& kernels);
std::string to_json(const std::vector<Kernel>& kernels);

// An access the instrumentation cannot see as the GPU makes it (the emulated ldmatrix and
// cp.async of tensor_core.h), made by the calling GPU thread at `where`.
void record(const void* address, unsigned bytes, bool store, const std::source_location& where);

namespace detail {
// The emulator's hooks (block_runner.cpp; compiled in only where kBuilt): a block starts with its
// dynamic shared memory; a static __shared__ variable was allocated; the block has finished.
void block_begin(const LaunchSpec& spec, const void* dynamic_shared, size_t bytes);
void shared_allocated(const void* p, size_t bytes);
void block_end();
}  // namespace detail

}  // namespace kiln::emu::access
