// Declarations the emulator's own .cpp files share (not for kernels, not for the rest of kiln:
// theirs is emu_api.h). Who does what:
//   block_runner.cpp   one block on one OS thread: threads as a plain loop, then as fibers where
//                      they synchronise; __syncthreads, warp operations, deadlock reports
//   worker_pool.cpp    the workers that take the blocks of a grid from a shared counter
//   launch.cpp         kiln::emu::launch: checks the configuration, runs the grid on the pool
//   fault_report.cpp   which kernel, block and thread a SIGSEGV/SIGBUS (or ASan report) came from
//   kernel_names.cpp   kernels named in messages (symbol tables, demangling)
//   fiber_bench.cpp    the fiber switch measurement for bench/emu
//   stack_pool.cpp     fiber stacks; runtime.cpp the CUDA runtime API
//   streams.cpp        streams and events: synchronous, or deferred (queued work, run on demand)
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "kernels/emu/emu_api.h"

namespace kiln::emu {

class StackPool;

namespace internal {

constexpr uint32_t kMaxThreads = 1024;  // threads in a block, as on every GPU since Fermi

// The launch being run (for the fault report, which runs on the faulting thread). launch.cpp.
extern std::atomic<const LaunchSpec*> g_current;
// Racecheck build: every GPU thread releases into it when it exits; the launching thread
// acquires it when the grid has finished (the kernel-end happens-before edge). launch.cpp.
extern char g_grid_end;

// "(x,y,z)" and "foo(float*) (launched at kernels/foo.cu:88)" for messages. kernel_names.cpp.
std::string dim_str(unsigned x, unsigned y, unsigned z);
std::string kernel_str(const LaunchSpec& spec);

// Runs block number `block` (linear, x fastest) of the launch on the calling thread; throws
// kiln::Error naming the kernel, block and thread when it fails. block_runner.cpp.
// `order_seed` seeds the random thread order (KILN_EMU_ORDER=random).
void run_block(const LaunchSpec& spec, uint32_t block, uint64_t order_seed);
// The calling worker's fiber stacks (for the fiber switch benchmark). block_runner.cpp.
StackPool& worker_stacks();

// Runs blocks 0..blocks-1 of the launch on the worker pool and returns when all have finished;
// throws the first block's error. worker_pool.cpp.
void run_grid(const LaunchSpec& spec, uint32_t blocks);

// Installed once, when the pool starts: reports which kernel, block and thread faulted.
// fault_report.cpp.
void install_fault_reporter();
// An alternate signal stack for the calling thread (so a fiber stack overflow can be reported),
// unless it has one. fault_report.cpp.
void ensure_signal_stack();

// Streams (streams.cpp). True while StreamMode::Deferred is on (one relaxed load).
extern std::atomic<bool> g_deferred;
inline bool deferring() { return g_deferred.load(std::memory_order_relaxed); }
// Runs `work` now (synchronous mode) or queues it on `stream` (a cudaStream_t; nullptr, 0x1 and
// 0x2 name the legacy default stream), ordered as a GPU orders the stream.
void submit(void* stream, std::function<void()> work);
// What a blocking call (cudaMemcpy, cudaMemcpyToSymbol) waits for before it runs: the legacy
// default stream's work and, through its implicit synchronisation, every blocking stream's.
// Rethrows a failure of the work it ran (or of earlier deferred work).
void wait_for_legacy_stream();
// What cudaStreamSynchronize(stream) waits for (the same for the legacy stream). Rethrows.
void wait_for_stream(void* stream);
// All queued work, for calls that wait for the whole device without reporting kernel failures
// (cudaFree, cudaFreeHost: a failure stays for the next synchronising call).
void quiesce();

// Sets the runtime's last error (cudaGetLastError) and returns `e`. runtime.cpp.
int set_last_error(int e);

}  // namespace internal
}  // namespace kiln::emu
