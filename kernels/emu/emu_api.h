// The kiln CUDA emulator's internal interface: what the force-included kernels/emu/emu.h and
// kiln::launch (kernels/launch.cuh) call into, implemented in kernels/emu/*.cpp (mapped in
// README.md).
//
// This header is plain C++ (no macros that rename CUDA keywords), so the emulator's own .cpp files
// include it without the kernel-side redefinitions that emu.h makes.
#pragma once

#include <driver_types.h>  // cudaMemcpyKind
#include <vector_types.h>  // dim3, uint3 (the toolkit's own, usable by g++)

#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

namespace kiln::emu {

// One emulated CUDA thread. `idx` is what threadIdx reads; the rest belongs to the scheduler.
struct Thread {
  uint3 idx;
  uint32_t linear = 0;  // x + y*bx + z*bx*by
  uint32_t pos = 0;     // its position in the block's running order (KILN_EMU_ORDER)
  uint8_t state = 0;    // block_runner.cpp: ThreadState
  uint8_t wait_kind = 0;
  uint8_t warp_cat = 0;
  bool aborted = false;
  bool started = false;
  uint32_t warp_mask = 0;
  uint32_t warp_src = 0;       // lane whose value a shuffle reads (own lane when out of range)
  uint64_t warp_value = 0;     // what this lane contributes to a warp op (bits of the value)
  uint64_t result = 0;         // what the pending barrier / warp op returns to this thread
  std::source_location where;  // where it waits
  void* fiber = nullptr;       // boost fcontext_t while suspended
  void* stack = nullptr;       // stack base (lowest address, incl. guard page) from the pool
  // Racecheck (ThreadSanitizer) build only, block_runner.cpp: the thread's TSan fiber; whether it
  // has run a __threadfence (its later atomics release); the atomics it used since its last fence
  // (the next fence acquires them).
  void* tsan_fiber = nullptr;
  bool fenced = false;
  uint8_t n_atomics = 0;
  const void* atomics[4] = {};
};

// The block a worker is running. blockIdx/blockDim/gridDim read it.
struct Block {
  uint3 idx;
  dim3 dim;
  dim3 grid;
  void* dynamic_shared = nullptr;
  size_t dynamic_shared_bytes = 0;
};

namespace detail {
// The emulated thread and block running on this OS thread (updated at every fiber switch).
// __thread, not thread_local: trivially initialised, so reads are one %fs-relative load with no
// TLS wrapper call.
extern __thread Thread* tl_thread;
extern __thread Block* tl_block;

enum class WarpCat : uint8_t { Sync = 1, Shuffle, Vote, Match, Reduce };

// A warp-level rendezvous of the lanes in `mask`. For Shuffle the result is the value of lane
// `src` (this lane's own value when src is out of range); for Vote the ballot of (value != 0)
// over the mask; for Match the mask of lanes whose value equals this lane's; for Reduce the
// (wrapping) 32-bit sum of the values.
uint64_t warp_op(WarpCat cat, unsigned mask, uint64_t value, unsigned src,
                 const std::source_location& where);

enum class BarrierOp : uint8_t { Plain, Count, And, Or };
// __syncthreads and its reducing variants; returns the reduction over the block.
int block_barrier(BarrierOp op, int predicate, const std::source_location& where);

// A kernel declared with __launch_bounds__(max_threads) launched with more threads per block:
// refuses the launch (cudaErrorLaunchOutOfResources), naming the kernel.
[[noreturn]] void launch_bounds_exceeded(long long max_threads);

// The calling block's memory for the `__shared__` declaration `key` (see emu.h): `bytes` bytes,
// 0xff-filled at first use in the block, an exact-size heap block (so ASan sees overruns).
void* shared_alloc(const void* key, size_t bytes, size_t align);

// The mask of lanes of the caller's warp that exist and have not exited.
unsigned active_mask();

// A failed assert() in kernel code: throws kiln::Error when called inside an emulated thread,
// otherwise behaves like the C library's assert (prints and aborts).
[[noreturn]] void assert_fail(const char* expr, const char* file, unsigned line, const char* func);
[[noreturn]] void trap(const std::source_location& where);
long long clock64();

#if defined(__SANITIZE_THREAD__)
// Racecheck build: an atomic at `address` by the calling GPU thread, and a __threadfence (the
// happens-before edges they make, kernels/emu/README.md "Racecheck").
void tsan_atomic(const void* address);
void tsan_fence();
#endif

}  // namespace detail

// A kernel launch as the emulator sees it: `thunk(closure)` runs the kernel body for the current
// emulated thread. `clone` copies the closure (the kernel's arguments) to the heap and `destroy`
// frees such a copy: a deferred launch (StreamMode::Deferred) owns its arguments.
struct LaunchSpec {
  void (*thunk)(void* closure) = nullptr;
  void* closure = nullptr;
  void* (*clone)(const void* closure) = nullptr;
  void (*destroy)(void* closure) = nullptr;
  const void* kernel = nullptr;  // the kernel's address (for its name in messages)
  dim3 grid, block;
  size_t shared_bytes = 0;
  void* stream = nullptr;
  std::source_location site;  // where kiln::launch was called
  uint64_t launch = 0;         // set by launch(): this launch's number in the process, from 1
};

// Checks the configuration (a bad one throws kiln::Error at once), then runs the whole grid and
// returns when it has finished, or, in StreamMode::Deferred, queues it on spec.stream. Throws
// kiln::Error for an exception or failed assert in the kernel, or a deadlock, naming the kernel,
// block, thread and launching line: from here, or, when deferred, from the call that makes the
// queued work run (cudaStreamSynchronize & co), as a GPU reports it at the next synchronisation.
void launch(const LaunchSpec& spec);

// How streams run. Synchronous (the default): every launch, copy and memset finishes before its
// call returns, so streams and events are trivially ordered. Deferred: work on a stream is queued
// and runs only when something needs it (a synchronising call, an event query, a blocking copy,
// another stream's wait on one of its events, the legacy default stream's implicit
// synchronisation), so code that forgets to synchronise computes wrong results in the tests.
// Env KILN_EMU_STREAMS=sync|deferred; set_stream_mode from code (it first runs all queued work).
// streams.cpp.
enum class StreamMode : uint8_t { Synchronous, Deferred };
StreamMode stream_mode();
void set_stream_mode(StreamMode mode);

// Device memory and host memory, told apart although both are host memory underneath
// (memory_map.cpp): runtime.cpp records what cudaMalloc (and cudaMallocManaged) and cudaMallocHost
// hand out; everything else is ordinary host memory.
enum class MemorySpace : uint8_t { Device, PinnedHost, Host };
void record_allocation(const void* p, size_t bytes, MemorySpace space);
// Drops the record of the block that starts at p (its size to *bytes); false if there is no
// block of that space there.
bool forget_allocation(const void* p, MemorySpace space, size_t* bytes = nullptr);
// Every device and pinned block as [start, end), sorted, with the generation it reflects (for the
// access counter, kernels/emu/access_count.cpp); allocation_generation() changes whenever a block is
// recorded or forgotten.
std::vector<std::pair<uintptr_t, uintptr_t>> global_ranges(uint64_t* generation);
uint64_t allocation_generation();
// Where p points (a pointer one past the end of a block does not belong to it; as a kernel
// argument it is accepted).
MemorySpace memory_space(const void* p);
// Why `call` cannot copy `count` bytes with `kind` (a side in the wrong memory, or running past
// its device block); empty if it can. cudaMemcpyDefault accepts any pointers, as with UVA.
std::string copy_error(const char* call, void* dst, const void* src, size_t count,
                       cudaMemcpyKind kind);
// Throws kiln::Error (naming the kernel, the argument and the launch site) when a kernel's pointer
// argument points into ordinary host memory, which a GPU cannot read.
void check_pointer_argument(const LaunchSpec& spec, size_t index, const void* p);

// Strict mode: a shuffle that reads a lane outside its mask is an error, as it is undefined on a
// GPU (default: on; env KILN_EMU_STRICT=0 turns it off).
void set_strict(bool on);
bool strict();

// The emulated device(s): env KILN_EMU_SM (80, 86, 89 or 90; default 90) and KILN_EMU_DEVICES
// (default 1). The per-architecture limits are those of the CUDA C Programming Guide's table of
// compute capabilities (registers are not modelled). runtime.cpp.
struct DeviceConfig {
  int sm = 90;                  // compute capability major * 10 + minor
  int devices = 1;              // cudaGetDeviceCount
  size_t shared_per_block = 48 * 1024;      // without opt-in
  size_t shared_optin = 227 * 1024;         // sharedMemPerBlockOptin (static + dynamic)
  size_t shared_per_sm = 228 * 1024;
  int max_threads_per_sm = 2048;
  int max_blocks_per_sm = 32;
};
const DeviceConfig& device_config();

// The most dynamic shared memory a launch of `kernel` may ask for: 48 KiB unless raised by
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes). runtime.cpp.
size_t max_dynamic_shared(const void* kernel);

// The order in which the threads of a block run between barriers, and the blocks of a grid:
// env KILN_EMU_ORDER=ascending (default) | descending | random[:seed] (seed default 0).
enum class Order : uint8_t { Ascending, Descending, Random };
struct OrderConfig {
  Order order = Order::Ascending;
  uint64_t seed = 0;
};
OrderConfig order();
void set_order(OrderConfig order);
// Parses a KILN_EMU_ORDER value; throws kiln::Error for anything else.
OrderConfig parse_order(const char* text);

// Worker threads running blocks (the launching thread included); env KILN_EMU_WORKERS.
int worker_count();

// "foo(float*, int)" for a function address when its symbol is exported, else "kernel at 0x...".
const char* symbol_name(const void* address, char* buffer, size_t size);

// One fiber switch there and back, for the benchmark: the mean round-trip time in ns / 2.
double measure_fiber_switch_ns(int iterations);

}  // namespace kiln::emu
