// What one fiber switch costs, for the emulator's benchmark (bench/emu): the context switch the
// block runner makes at every synchronisation point of a thread that runs as a fiber.
#include <boost/context/detail/fcontext.hpp>
#include <chrono>

#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/stack_pool.h"

namespace kiln::emu {

namespace {
namespace bctx = boost::context::detail;

void bench_fiber(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}
}  // namespace

double measure_fiber_switch_ns(int iterations) {
  StackPool& stacks = internal::worker_stacks();
  void* stack = stacks.get();
  bctx::fcontext_t f =
      bctx::make_fcontext(static_cast<char*>(stack) + stacks.size(), stacks.size(), &bench_fiber);
  f = bctx::jump_fcontext(f, nullptr).fctx;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) f = bctx::jump_fcontext(f, nullptr).fctx;
  const auto t1 = std::chrono::steady_clock::now();
  stacks.put(stack);  // the fiber is abandoned mid-loop; its stack holds nothing that needs freeing
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (2.0 * iterations);
}

}  // namespace kiln::emu
