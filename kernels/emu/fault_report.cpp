// Fault reports: when kernel code faults (a wild pointer, a fiber stack overflow into its guard
// page, or an error AddressSanitizer reports), say which kernel, block and thread it was before the
// process dies the usual way.
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>

#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/sanitizer.h"

namespace kiln::emu::internal {

using detail::tl_block;
using detail::tl_thread;

#ifdef KILN_EMU_ASAN
namespace {
void report_fault() {
  const LaunchSpec* spec = g_current.load();
  const Thread* t = tl_thread;
  const Block* b = tl_block;
  if (!spec || !t || !b) return;
  std::fprintf(stderr, "kiln emulator: fault in kernel %s block (%u,%u,%u) thread (%u,%u,%u)\n",
               kernel_str(*spec).c_str(), b->idx.x, b->idx.y, b->idx.z, t->idx.x, t->idx.y,
               t->idx.z);
}
}  // namespace

void install_fault_reporter() {
  __sanitizer_set_death_callback(&report_fault);
}
#else
namespace {
// Without ASan: a SIGSEGV/SIGBUS in a kernel (a wild pointer, or a fiber stack overflow into its
// guard page) prints which kernel, block and thread faulted, then the signal takes its usual course
// (the previous handler is restored and the faulting access re-executes). The handler runs on an
// alternate signal stack (installed per worker by the block runner) so that a stack overflow can
// report.
struct sigaction g_previous_segv, g_previous_bus;

void fault_handler(int sig, siginfo_t* info, void*) {
  const LaunchSpec* spec = g_current.load();
  const Thread* t = tl_thread;
  const Block* b = tl_block;
  if (spec && t && b) {
    char name[512];
    symbol_name(spec->kernel, name, sizeof name);
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const auto stack = reinterpret_cast<uintptr_t>(t->stack);
    const bool overflow = stack && addr < stack && addr + 65536 >= stack;
    std::fprintf(stderr,
                 "kiln emulator: fault (%s at %p) in kernel %s (launched at %s:%u) block (%u,%u,%u) "
                 "thread (%u,%u,%u)%s\n",
                 sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", info->si_addr, name, spec->site.file_name(),
                 spec->site.line(), b->idx.x, b->idx.y, b->idx.z, t->idx.x, t->idx.y, t->idx.z,
                 overflow ? ": fiber stack overflow, raise KILN_EMU_STACK_KB" : "");
  }
  sigaction(sig, sig == SIGSEGV ? &g_previous_segv : &g_previous_bus, nullptr);
}
}  // namespace

void install_fault_reporter() {
  struct sigaction sa {};
  sa.sa_sigaction = &fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (auto [sig, previous] : {std::pair{SIGSEGV, &g_previous_segv}, std::pair{SIGBUS, &g_previous_bus}}) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    // Leave alone a handler someone else installed (a crash reporter, a test framework).
    if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) sigaction(sig, &sa, previous);
  }
}
#endif

void ensure_signal_stack() {
  if (san::enabled) return;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
  static thread_local std::unique_ptr<char[]> memory;
  constexpr size_t kSize = 64 * 1024;
  memory = std::make_unique<char[]>(kSize);
  stack_t ss{};
  ss.ss_sp = memory.get();
  ss.ss_size = kSize;
  sigaltstack(&ss, nullptr);
}

}  // namespace kiln::emu::internal
