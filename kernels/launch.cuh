// kiln::launch: the one way kiln launches a kernel, in both GPU flavours.
//
//   kiln::launch(my_kernel, grid, block, shared_bytes, stream, arg1, arg2, ...);
//
// Under nvcc it is `my_kernel<<<grid, block, shared_bytes, stream>>>(args...)` followed by a check
// of the launch status: a bad configuration (too many threads, too much shared memory, ...) throws
// kiln::Error naming the kernel, the configuration, the CUDA error and the line that launched it.
// (Faults *inside* the kernel surface asynchronously at the next synchronising call, as usual.)
// In the emulator build (KILN_EMULATE) the grid runs on the CPU before launch returns, and any
// error in the kernel (exception, failed assert, deadlock) is thrown from here as kiln::Error;
// with deferred streams (KILN_EMU_STREAMS=deferred) the launch is queued with its own copy of the
// arguments, and such an error is thrown by the call that runs it (cudaStreamSynchronize & co),
// still naming the kernel and this line.
// This header holds the only `<<<` of the code base.
//
// Dynamic shared memory: declare it inside the kernel (not at namespace scope) with
// KILN_DYNAMIC_SHARED(type, name); `name` is then usable as a `type*` (under nvcc it is
// `extern __shared__ type name[]`, aligned to 16 bytes in both flavours).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <source_location>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "core/stream.h"

#if defined(KILN_EMULATE)
#include "kernels/emu/emu_api.h"
#else
#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#endif

#if defined(KILN_EMULATE)
// An exact-size heap buffer per block, filled with 0xff bytes (NaN as float, -1 as int) so that a
// read before a write shows up, and an overrun is caught by AddressSanitizer.
#define KILN_DYNAMIC_SHARED(type, name) \
  type* const name = static_cast<type*>(::kiln::emu::detail::tl_block->dynamic_shared)
#else
#define KILN_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

namespace kiln {

// The grid argument of kiln::launch: a dim3 (or a block count) plus the caller's source line,
// captured implicitly so that errors name the line that launched the kernel.
struct LaunchGrid {
  dim3 dims;
  std::source_location where;
  LaunchGrid(dim3 d, std::source_location w = std::source_location::current()) : dims(d), where(w) {}
  LaunchGrid(unsigned x, std::source_location w = std::source_location::current()) : dims(x), where(w) {}
  LaunchGrid(int x, std::source_location w = std::source_location::current())
      : dims(static_cast<unsigned>(x)), where(w) {}
};

// A kiln::Stream's cudaStream_t.
inline cudaStream_t native_stream(const Stream& stream) {
  return static_cast<cudaStream_t>(stream.native());
}

namespace detail {

template <typename... Params>
struct KernelCall {
  void (*kernel)(Params...);
  std::tuple<std::decay_t<Params>...> args;
  static void run(void* self) {
    auto* c = static_cast<KernelCall*>(self);
    std::apply(c->kernel, c->args);  // each emulated thread gets its own copies of the arguments
  }
#if defined(KILN_EMULATE)
  // A deferred launch's own copy of the arguments (kernels/emu/streams.cpp).
  static void* clone(const void* self) { return new KernelCall(*static_cast<const KernelCall*>(self)); }
  static void destroy(void* self) { delete static_cast<KernelCall*>(self); }
  // Refuses pointer arguments into ordinary host memory, which a GPU cannot read.
  void check_pointers(const emu::LaunchSpec& spec) const {
    [&]<size_t... I>(std::index_sequence<I...>) {
      (check_pointer(spec, I, std::get<I>(args)), ...);
    }(std::index_sequence_for<Params...>{});
  }
  template <typename T>
  static void check_pointer(const emu::LaunchSpec& spec, size_t index, const T& arg) {
    if constexpr (std::is_pointer_v<T> && std::is_object_v<std::remove_pointer_t<T>>)
      emu::check_pointer_argument(spec, index, arg);
  }
#endif
};

#if !defined(KILN_EMULATE)
inline std::string kernel_name(const void* kernel) {
  Dl_info info{};
  if (kernel && dladdr(kernel, &info) && info.dli_sname) {
    int status = 0;
    char* d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    std::string name = status == 0 && d ? d : info.dli_sname;
    std::free(d);
    return name;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "at %p", kernel);
  return buf;
}

[[noreturn]] inline void launch_failed(cudaError_t e, const void* kernel, dim3 g, dim3 b,
                                       size_t shared, const std::source_location& where) {
  throw Error("cannot launch kernel " + kernel_name(kernel) + " with grid (" + std::to_string(g.x) +
                  "," + std::to_string(g.y) + "," + std::to_string(g.z) + ") block (" +
                  std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) +
                  ") and " + std::to_string(shared) + " bytes of dynamic shared memory: " +
                  cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")",
              where);
}
#endif

}  // namespace detail

// Launches `kernel` on `grid` x `block` threads with `shared_bytes` of dynamic shared memory on
// `stream`; `args` convert to the kernel's parameters as in a <<<>>> launch.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), LaunchGrid grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args),
                "kiln::launch: the number of arguments does not match the kernel's parameters");
#if defined(KILN_EMULATE)
  detail::KernelCall<Params...> call{kernel, {std::forward<Args>(args)...}};
  emu::LaunchSpec spec;
  spec.thunk = &detail::KernelCall<Params...>::run;
  spec.closure = &call;
  spec.clone = &detail::KernelCall<Params...>::clone;
  spec.destroy = &detail::KernelCall<Params...>::destroy;
  spec.kernel = reinterpret_cast<const void*>(kernel);
  spec.grid = grid.dims;
  spec.block = block;
  spec.shared_bytes = shared_bytes;
  spec.stream = stream;
  spec.site = grid.where;
  call.check_pointers(spec);
  emu::launch(spec);
#else
  kernel<<<grid.dims, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) [[unlikely]]
    detail::launch_failed(e, reinterpret_cast<const void*>(kernel), grid.dims, block, shared_bytes,
                          grid.where);
#endif
}

// The same with a kiln::Stream.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), LaunchGrid grid, dim3 block, size_t shared_bytes,
            const Stream& stream, Args&&... args) {
  launch(kernel, grid, block, shared_bytes, native_stream(stream), std::forward<Args>(args)...);
}

}  // namespace kiln
