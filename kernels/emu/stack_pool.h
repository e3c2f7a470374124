// Fiber stacks for the emulator: mmap'd, with a PROT_NONE guard page below each stack (a kernel
// that overflows its stack faults instead of corrupting a neighbour), kept per worker and reused
// from one block and one launch to the next. Size: env KILN_EMU_STACK_KB (default 64 KiB, 256 KiB
// under Address- or ThreadSanitizer, whose frames are larger).
#pragma once

#include <cstddef>
#include <vector>

namespace kiln::emu {

class StackPool {
 public:
  StackPool();
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack's lowest usable address (just above the guard page) and its usable size.
  void* get();
  void put(void* stack) { free_.push_back(stack); }
  size_t size() const { return size_; }

  // The configured usable stack size in bytes (env KILN_EMU_STACK_KB).
  static size_t configured_size();

 private:
  size_t size_ = 0;
  size_t page_ = 0;
  std::vector<void*> free_;
  std::vector<void*> all_;
};

}  // namespace kiln::emu
