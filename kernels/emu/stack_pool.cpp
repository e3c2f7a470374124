#include <fmt/format.h>
#include "kernels/emu/stack_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <new>

#include "core/error.h"
#include "kernels/emu/sanitizer.h"

namespace kiln::emu {

size_t StackPool::configured_size() {
  static const size_t size = [] {
    size_t kb = san::enabled || san::tsan ? 256 : 64;  // sanitized frames are larger
    if (const char* env = std::getenv("KILN_EMU_STACK_KB"); env && *env) {
      char* end = nullptr;
      const unsigned long v = std::strtoul(env, &end, 10);
      KILN_CHECK(end && *end == '\0' && v >= 16 && v <= 1024 * 1024,
                 "KILN_EMU_STACK_KB={} is not a stack size in KiB between 16 and 1048576", env);
      kb = v;
    }
    return kb * 1024;
  }();
  return size;
}

StackPool::StackPool() : size_(configured_size()), page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
  size_ = (size_ + page_ - 1) / page_ * page_;
}

StackPool::~StackPool() {
  for (void* s : all_) munmap(static_cast<char*>(s) - page_, size_ + page_);
}

void* StackPool::get() {
  if (!free_.empty()) {
    void* s = free_.back();
    free_.pop_back();
    // A fiber's last frames (its entry function never returns) leave ASan redzones behind.
    san::unpoison(s, size_);
    // TSan: its last user is no GPU thread the next one is ordered after, so the stack must
    // start without history: mapped afresh (inside the emulator's ignore region, so TSan resets
    // its shadow; only the pages the fiber touches are faulted in again).
    if constexpr (san::tsan) {
      if (mmap(s, size_, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK | MAP_FIXED, -1,
               0) == MAP_FAILED)
        fail(fmt::format("kiln emulator: cannot remap a {} KiB fiber stack", size_ / 1024));
    }
    return s;
  }
  void* base = mmap(nullptr, size_ + page_, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED)
    fail(fmt::format("kiln emulator: cannot map a {} KiB fiber stack (lower KILN_EMU_STACK_KB or "
                     "use fewer threads per block)", size_ / 1024));
  mprotect(base, page_, PROT_NONE);  // guard page: an overflow faults
  void* s = static_cast<char*>(base) + page_;
  all_.push_back(s);
  return s;
}

}  // namespace kiln::emu
