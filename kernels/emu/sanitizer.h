// The emulator's sanitizer hooks: AddressSanitizer's fiber annotations (KILN_EMU_ASAN) and
// ThreadSanitizer's fibers, happens-before edges and ignore regions (KILN_EMU_TSAN, the racecheck
// build, README.md "Racecheck"). Every hook is an empty inline function in a build without the
// sanitizer, so the normal emulate build pays nothing.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define KILN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_EMU_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define KILN_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_EMU_TSAN 1
#endif
#endif

#ifdef KILN_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef KILN_EMU_TSAN
// Exported by libtsan; declared here because <sanitizer/tsan_interface.h> has only some of them.
extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_set_fiber_name(void* fiber, const char* name);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
}
#endif

namespace kiln::emu::san {

#ifdef KILN_EMU_ASAN
constexpr bool enabled = true;
inline void start_switch(void** fake_stack_save, const void* bottom, size_t size) {
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
}
inline void finish_switch(void* fake_stack_save, const void** bottom_old, size_t* size_old) {
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
}
inline void unpoison(void* p, size_t n) { __asan_unpoison_memory_region(p, n); }
#else
constexpr bool enabled = false;
inline void start_switch(void**, const void*, size_t) {}
inline void finish_switch(void*, const void**, size_t*) {}
inline void unpoison(void*, size_t) {}
#endif

// ThreadSanitizer. Each emulated GPU thread is a TSan fiber; switches between fibers carry no
// synchronisation (the no-sync flag), so the only happens-before edges are those the emulator
// states with release/acquire where the GPU orders memory.
#ifdef KILN_EMU_TSAN
constexpr bool tsan = true;
inline void* current_fiber() { return __tsan_get_current_fiber(); }
// A new fiber, named in reports (it inherits the creating context's clock).
inline void* create_fiber(const char* name) {
  void* f = __tsan_create_fiber(0);
  __tsan_set_fiber_name(f, name);
  return f;
}
inline void name_fiber(void* f, const char* name) { __tsan_set_fiber_name(f, name); }
inline void destroy_fiber(void* f) { __tsan_destroy_fiber(f); }
inline void switch_fiber(void* f) { __tsan_switch_to_fiber(f, 1 /* no sync */); }
inline void release(void* sync) { __tsan_release(sync); }
inline void acquire(void* sync) { __tsan_acquire(sync); }
// Memory accesses between ignore_begin and ignore_end (per fiber: the counter belongs to the
// fiber running) are neither checked nor recorded: the emulator's own bookkeeping. Memory that
// malloc or mmap returns inside such a region has no history in TSan (no "imitated write" by the
// allocating context): the emulator's way to recycle memory (AnnotateNewMemory is a no-op in
// GCC 12's libtsan).
inline void ignore_begin() { __tsan_ignore_thread_begin(); }
inline void ignore_end() { __tsan_ignore_thread_end(); }
#else
constexpr bool tsan = false;
inline void* current_fiber() { return nullptr; }
inline void* create_fiber(const char*) { return nullptr; }
inline void name_fiber(void*, const char*) {}
inline void destroy_fiber(void*) {}
inline void switch_fiber(void*) {}
inline void release(void*) {}
inline void acquire(void*) {}
inline void ignore_begin() {}
inline void ignore_end() {}
#endif

// The emulator's code called from kernel code runs inside one of these: nothing it touches is a
// kernel's access. Nests; survives fiber switches (each fiber enters and leaves its own).
struct Ignore {
  Ignore() { ignore_begin(); }
  ~Ignore() { ignore_end(); }
  Ignore(const Ignore&) = delete;
  Ignore& operator=(const Ignore&) = delete;
};

}  // namespace kiln::emu::san
