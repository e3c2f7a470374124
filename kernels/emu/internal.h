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
#pragma once

#include <atomic>
#include <cstdint>
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

}  // namespace internal
}  // namespace kiln::emu
