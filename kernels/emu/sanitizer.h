// AddressSanitizer fiber annotations (no-ops in a build without ASan).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define KILN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_EMU_ASAN 1
#endif
#endif

#ifdef KILN_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
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

}  // namespace kiln::emu::san
