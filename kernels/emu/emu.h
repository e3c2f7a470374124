// kiln's CUDA emulator, kernel side. In the `emulate` build this header is force-included
// (g++ -xc++ -include kernels/emu/emu.h) into every kernels/*.cu and tests/**/*.cu file, so the
// very same CUDA source compiles as C++ and runs on the CPU:
//   - the toolkit's own <cuda_runtime.h> gives dim3, float4 & co, __half, __nv_bfloat16 and the
//     runtime API declarations (whose definitions live in kernels/emu/runtime.cpp);
//   - threadIdx/blockIdx/blockDim/gridDim read the emulated thread the worker is running;
//   - __shared__ declarations in functions are rewritten by the build (kernels/emu/emu_source.py)
//     into per-block memory, 0xff-filled; elsewhere __shared__ is `static thread_local` (a block
//     never leaves its OS thread, and a worker runs one block at a time);
//   - __syncthreads*, warp shuffles/votes and __syncwarp are rendezvous points of the fiber
//     scheduler (kernels/emu/block_runner.cpp);
//   - atomics are std::atomic_ref, intrinsics are their libm meaning, assert() raises kiln::Error.
// KILN_EMULATE is defined so that code can tell; use it sparingly (tests of the emulator itself).
// See kernels/emu/README.md.
#pragma once

#define KILN_EMULATE 1

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

// <assert.h> declares __assert_fail only without NDEBUG; make it declare it now (its declarations
// are include-guarded) so the rename below also works for a later #undef NDEBUG + <cassert>.
#ifdef NDEBUG
#undef NDEBUG
#include <assert.h>
#define NDEBUG 1
#include <assert.h>
#else
#include <assert.h>
#endif
#include <math.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "kernels/emu/emu_api.h"

// ---- keywords -------------------------------------------------------------------------------
// __global__, __device__, __host__, __constant__, __managed__, __grid_constant__ are already empty
// under a host compiler (the toolkit's host_defines.h); __forceinline__ stays the toolkit's.
// In kernel and device function bodies the build rewrites `__shared__ T x[N];` into fresh
// per-block memory (kernels/emu/emu_source.py and detail::shared_var below); what it leaves alone
// (namespace scope, unusual declarations) stays `static thread_local`, one copy per worker.
#undef __shared__
#define __shared__ static thread_local
// The build also puts KILN_EMU_LAUNCH_BOUNDS(N) first in the body of a kernel declared with
// __launch_bounds__(N): a launch with more threads per block is refused.
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#define KILN_EMU_LAUNCH_BOUNDS(...) ::kiln::emu::detail::check_launch_bounds(__VA_ARGS__)

#define threadIdx (::kiln::emu::detail::tl_thread->idx)
#define blockIdx (::kiln::emu::detail::tl_block->idx)
#define blockDim (::kiln::emu::detail::tl_block->dim)
#define gridDim (::kiln::emu::detail::tl_block->grid)
#ifndef warpSize
constexpr int warpSize = 32;
#endif

namespace kiln::emu::detail {
inline void check_launch_bounds(long long max_threads, long long = 0, long long = 0) {
  const Block& b = *tl_block;
  if (static_cast<long long>(b.dim.x) * b.dim.y * b.dim.z > max_threads) [[unlikely]]
    launch_bounds_exceeded(max_threads);
}
// The block's copy of one `__shared__` declaration (`Tag` tells declarations apart): allocated
// when the first thread of the block gets there, filled with 0xff bytes, freed with the block.
template <typename T, typename Tag>
inline T& shared_var() {
  static_assert(std::is_trivially_destructible_v<T>, "__shared__ variables have no destructors");
  static char key;
  return *static_cast<T*>(shared_alloc(&key, sizeof(T), alignof(T)));
}
}  // namespace kiln::emu::detail

// ---- assert ---------------------------------------------------------------------------------
// glibc's assert() expands to __assert_fail(...); renaming that one function (its declaration was
// made above by <assert.h>, and is guarded against re-declaration) makes every assert in kernel
// code, even after a later #include <cassert>, raise kiln::Error inside an emulated thread. NDEBUG
// disables it, exactly as it disables device-side assert under nvcc.
#define __assert_fail ::kiln::emu::detail::assert_fail

// ---- barriers and warp operations -----------------------------------------------------------
inline void __syncthreads(std::source_location where = std::source_location::current()) {
  ::kiln::emu::detail::block_barrier(::kiln::emu::detail::BarrierOp::Plain, 0, where);
}
inline int __syncthreads_count(int pred, std::source_location where = std::source_location::current()) {
  return ::kiln::emu::detail::block_barrier(::kiln::emu::detail::BarrierOp::Count, pred, where);
}
inline int __syncthreads_and(int pred, std::source_location where = std::source_location::current()) {
  return ::kiln::emu::detail::block_barrier(::kiln::emu::detail::BarrierOp::And, pred, where);
}
inline int __syncthreads_or(int pred, std::source_location where = std::source_location::current()) {
  return ::kiln::emu::detail::block_barrier(::kiln::emu::detail::BarrierOp::Or, pred, where);
}

namespace kiln::emu::detail {
inline unsigned lane_id() { return tl_thread->linear & 31u; }
template <typename T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>,
                "warp shuffles move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <typename T>
inline T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}
template <typename T>
inline T shuffle(unsigned mask, T var, unsigned src, const std::source_location& where) {
  return from_bits<T>(warp_op(WarpCat::Shuffle, mask, to_bits(var), src, where));
}
}  // namespace kiln::emu::detail

inline void __syncwarp(unsigned mask = 0xffffffffu,
                       std::source_location where = std::source_location::current()) {
  ::kiln::emu::detail::warp_op(::kiln::emu::detail::WarpCat::Sync, mask, 0, 0, where);
}
inline unsigned __activemask() { return ::kiln::emu::detail::active_mask(); }

template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
                     std::source_location where = std::source_location::current()) {
  const unsigned lane = ::kiln::emu::detail::lane_id();
  const unsigned w = static_cast<unsigned>(width);
  const unsigned src = (lane & ~(w - 1)) + (static_cast<unsigned>(src_lane) & (w - 1));
  return ::kiln::emu::detail::shuffle(mask, var, src, where);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                        std::source_location where = std::source_location::current()) {
  const unsigned lane = ::kiln::emu::detail::lane_id();
  const unsigned w = static_cast<unsigned>(width);
  const unsigned src = (lane & (w - 1)) >= delta ? lane - delta : lane;
  return ::kiln::emu::detail::shuffle(mask, var, src, where);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                          std::source_location where = std::source_location::current()) {
  const unsigned lane = ::kiln::emu::detail::lane_id();
  const unsigned w = static_cast<unsigned>(width);
  const unsigned src = (lane & (w - 1)) + delta < w ? lane + delta : lane;
  return ::kiln::emu::detail::shuffle(mask, var, src, where);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                         std::source_location where = std::source_location::current()) {
  const unsigned lane = ::kiln::emu::detail::lane_id();
  const unsigned w = static_cast<unsigned>(width);
  unsigned src = lane ^ static_cast<unsigned>(lane_mask);
  if ((src & ~(w - 1)) != (lane & ~(w - 1)) || src > 31) src = lane;
  return ::kiln::emu::detail::shuffle(mask, var, src, where);
}
inline unsigned __ballot_sync(unsigned mask, int pred,
                              std::source_location where = std::source_location::current()) {
  return static_cast<unsigned>(
      ::kiln::emu::detail::warp_op(::kiln::emu::detail::WarpCat::Vote, mask, pred != 0, 0, where));
}
inline int __any_sync(unsigned mask, int pred,
                      std::source_location where = std::source_location::current()) {
  return __ballot_sync(mask, pred, where) != 0;
}
inline int __all_sync(unsigned mask, int pred,
                      std::source_location where = std::source_location::current()) {
  return (__ballot_sync(mask, pred, where) & mask) == mask;
}
template <typename T>
inline unsigned __match_any_sync(unsigned mask, T value,
                                 std::source_location where = std::source_location::current()) {
  return static_cast<unsigned>(::kiln::emu::detail::warp_op(
      ::kiln::emu::detail::WarpCat::Match, mask, ::kiln::emu::detail::to_bits(value), 0, where));
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned value,
                                  std::source_location where = std::source_location::current()) {
  return static_cast<unsigned>(
      ::kiln::emu::detail::warp_op(::kiln::emu::detail::WarpCat::Reduce, mask, value, 0, where));
}
inline int __reduce_add_sync(unsigned mask, int value,
                             std::source_location where = std::source_location::current()) {
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(value), where));
}

// ---- atomics (atomic across all workers of the pool) ----------------------------------------
// Relaxed, as CUDA's atomics are: an atomic orders no other memory access. In the racecheck
// (ThreadSanitizer) build __threadfence gives them the C++ fence meaning (kernels/emu/README.md,
// "Racecheck"): a fence followed by an atomic releases, an atomic followed by a fence acquires.
namespace kiln::emu::detail {
#if defined(__SANITIZE_THREAD__)
inline void atomic_hook(const void* address) { tsan_atomic(address); }
inline void fence_hook() { tsan_fence(); }
#else
inline void atomic_hook(const void*) {}
inline void fence_hook() { std::atomic_thread_fence(std::memory_order_seq_cst); }
#endif

template <typename T, typename F>
inline T atomic_update(T* address, F f) {
  atomic_hook(address);
  std::atomic_ref<T> ref(*address);
  T old = ref.load(std::memory_order_relaxed);
  while (!ref.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
  }
  return old;
}
template <typename T>
inline std::atomic_ref<T> atomic(T* address) {
  atomic_hook(address);
  return std::atomic_ref<T>(*address);
}
}  // namespace kiln::emu::detail

#define KILN_EMU_ATOMIC_ARITH(T)                                                                \
  inline T atomicAdd(T* a, T v) { return ::kiln::emu::detail::atomic(a).fetch_add(v, std::memory_order_relaxed); } \
  inline T atomicSub(T* a, T v) { return ::kiln::emu::detail::atomic(a).fetch_sub(v, std::memory_order_relaxed); } \
  inline T atomicExch(T* a, T v) { return ::kiln::emu::detail::atomic(a).exchange(v, std::memory_order_relaxed); }
KILN_EMU_ATOMIC_ARITH(int)
KILN_EMU_ATOMIC_ARITH(unsigned)
KILN_EMU_ATOMIC_ARITH(unsigned long long)
KILN_EMU_ATOMIC_ARITH(long long)
KILN_EMU_ATOMIC_ARITH(float)
KILN_EMU_ATOMIC_ARITH(double)
#undef KILN_EMU_ATOMIC_ARITH

#define KILN_EMU_ATOMIC_INT(T)                                                                    \
  inline T atomicCAS(T* a, T compare, T v) {                                                     \
    ::kiln::emu::detail::atomic(a).compare_exchange_strong(compare, v, std::memory_order_relaxed); \
    return compare;                                                                               \
  }                                                                                               \
  inline T atomicMax(T* a, T v) { return ::kiln::emu::detail::atomic_update(a, [v](T o) { return o < v ? v : o; }); } \
  inline T atomicMin(T* a, T v) { return ::kiln::emu::detail::atomic_update(a, [v](T o) { return v < o ? v : o; }); } \
  inline T atomicAnd(T* a, T v) { return ::kiln::emu::detail::atomic(a).fetch_and(v, std::memory_order_relaxed); } \
  inline T atomicOr(T* a, T v) { return ::kiln::emu::detail::atomic(a).fetch_or(v, std::memory_order_relaxed); }   \
  inline T atomicXor(T* a, T v) { return ::kiln::emu::detail::atomic(a).fetch_xor(v, std::memory_order_relaxed); }
KILN_EMU_ATOMIC_INT(int)
KILN_EMU_ATOMIC_INT(unsigned)
KILN_EMU_ATOMIC_INT(unsigned long long)
KILN_EMU_ATOMIC_INT(long long)
#undef KILN_EMU_ATOMIC_INT

inline unsigned short atomicCAS(unsigned short* a, unsigned short compare, unsigned short v) {
  ::kiln::emu::detail::atomic(a).compare_exchange_strong(compare, v, std::memory_order_relaxed);
  return compare;
}
// No float atomicMax/atomicMin: CUDA has none (a kernel that needs one builds it from atomicCAS).
inline unsigned atomicInc(unsigned* a, unsigned v) {
  return ::kiln::emu::detail::atomic_update(a, [v](unsigned o) { return o >= v ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned v) {
  return ::kiln::emu::detail::atomic_update(a, [v](unsigned o) { return (o == 0 || o > v) ? v : o - 1; });
}
#define KILN_EMU_SCOPED(name) \
  template <typename... A>    \
  inline auto name##_block(A... a) { return name(a...); } \
  template <typename... A>    \
  inline auto name##_system(A... a) { return name(a...); }
KILN_EMU_SCOPED(atomicAdd)
KILN_EMU_SCOPED(atomicExch)
KILN_EMU_SCOPED(atomicCAS)
KILN_EMU_SCOPED(atomicMax)
KILN_EMU_SCOPED(atomicMin)
#undef KILN_EMU_SCOPED

inline void __threadfence() { ::kiln::emu::detail::fence_hook(); }
inline void __threadfence_block() { ::kiln::emu::detail::fence_hook(); }
inline void __threadfence_system() { ::kiln::emu::detail::fence_hook(); }

// ---- math and bit intrinsics ----------------------------------------------------------------
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline float __tanhf(float x) { return tanhf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
inline float saturate(float x) { return __saturatef(x); }
inline float fdividef(float a, float b) { return a / b; }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }

inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) |
         __brev(static_cast<unsigned>(x >> 32));
}
inline int __mul24(int a, int b) {
  return static_cast<int>(static_cast<unsigned>((a << 8) >> 8) * static_cast<unsigned>((b << 8) >> 8));
}
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned s) {
  s &= 31u;
  return s == 0 ? hi : (hi << s) | (lo >> (32 - s));
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s) {
  s &= 31u;
  return s == 0 ? lo : (lo >> s) | (hi << (32 - s));
}
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __float2int_rn(float x) { return static_cast<int>(nearbyintf(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(floorf(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(ceilf(x)); }
inline unsigned __float2uint_rn(float x) { return static_cast<unsigned>(nearbyintf(x)); }
inline unsigned __float2uint_rz(float x) { return static_cast<unsigned>(x); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }
inline long long __float2ll_rn(float x) { return llrintf(x); }

// min/max as CUDA declares them (mixed signedness promotes to unsigned, as in CUDA).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(int a, unsigned b) { return min(static_cast<unsigned>(a), b); }
inline unsigned max(int a, unsigned b) { return max(static_cast<unsigned>(a), b); }
inline unsigned min(unsigned a, int b) { return min(a, static_cast<unsigned>(b)); }
inline unsigned max(unsigned a, int b) { return max(a, static_cast<unsigned>(b)); }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }

// ---- loads/stores with cache hints, clocks, traps --------------------------------------------
template <typename T>
inline T __ldg(const T* p) { return *p; }
template <typename T>
inline T __ldcg(const T* p) { return *p; }
template <typename T>
inline T __ldca(const T* p) { return *p; }
template <typename T>
inline T __ldcs(const T* p) { return *p; }
template <typename T>
inline T __ldlu(const T* p) { return *p; }
template <typename T>
inline T __ldcv(const T* p) { return *p; }
template <typename T>
inline void __stcg(T* p, T v) { *p = v; }
template <typename T>
inline void __stcs(T* p, T v) { *p = v; }
template <typename T>
inline void __stwb(T* p, T v) { *p = v; }
template <typename T>
inline void __stwt(T* p, T v) { *p = v; }
inline long long clock64() { return ::kiln::emu::detail::clock64(); }
inline void __nanosleep(unsigned) {}
[[noreturn]] inline void __trap(std::source_location where = std::source_location::current()) {
  ::kiln::emu::detail::trap(where);
}
