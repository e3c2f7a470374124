// kiln::mma: the warp-level tensor-core building blocks (sm_80 and later), one call per PTX
// instruction, for kernels that feed the tensor cores themselves:
//
//   mma_m16n8k16_bf16 / _f16   mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32
//   mma_m16n8k8_tf32           mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//   to_tf32                    cvt.rna.tf32.f32 (round to nearest, ties away from zero)
//   ldmatrix_x1/x2/x4(_trans)  ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16
//   cp_async_ca<4|8|16>        cp.async.ca.shared.global [dst], [src], N{, src_bytes}
//   cp_async_cg16              cp.async.cg.shared.global [dst], [src], 16{, src_bytes} (.cg: 16 only)
//   cp_async_commit            cp.async.commit_group
//   cp_async_wait<N>           cp.async.wait_group N (all but the newest N committed groups done)
//   cp_async_wait_all          cp.async.wait_all (commit, then wait for every group)
//
// Fragments are the PTX ISA's ("Matrix Fragments for mma.m16n8k16 with floating point type",
// "... for mma.m16n8k8", ldmatrix's fragment figure), with groupID = lane >> 2 and
// threadID_in_group t = lane % 4; 16-bit elements are packed two per uint32_t, the lower-numbered
// element in the low half:
//   m16n8k16 A (16x16, row-major), a[0..3] hold a0..a7: row = groupID (+8 for a2,a3,a6,a7),
//            col = 2t + (i & 1) (+8 for a4..a7)
//   m16n8k16 B (16x8, "col": indexed [k][n]), b[0..1] hold b0..b3: row k = 2t + (i & 1) (+8 for
//            b2,b3), col n = groupID
//   m16n8k8 .tf32 A (16x8): a0..a3 one per register: row = groupID (+8 for a1,a3), col = t (+4 for
//            a2,a3); B (8x8): b0, b1: row k = t (+4 for b1), col n = groupID
//   C and D (16x8 f32), c[0..3]: row = groupID (+8 for c2,c3), col = 2t + (i & 1)
//   ldmatrix: lanes 8j..8j+7 give the 16-byte-aligned row addresses of matrix j (x1: lanes 0-7,
//            x2: 0-15, x4: all; other lanes' addresses are ignored); register j gets M_j[q][2t],
//            M_j[q][2t+1] (q = lane / 4), with .trans M_j[2t][q], M_j[2t+1][q].
// The mma and ldmatrix calls are warp-collective: all 32 lanes of the warp must make the same call
// (`.sync.aligned`), in converged code.
//
// Under nvcc (sm_80+) every call is one inline PTX instruction; compiled for an older architecture
// the calls trap (kernels choose the FP32 path at run time from the compute capability). Under the
// emulator (KILN_EMULATE) they run kernels/emu/tensor_core.h, which models:
//   - the fragment layouts exactly (a kernel that indexes fragments wrongly computes a wrong
//     result, as it would on a GPU), and a missing lane as the emulator's warp error;
//   - numerics: BF16/F16 operands exact, TF32 operands truncated to their top 19 bits (what the
//     tensor core does with an FP32 value that was not rounded by to_tf32), exact products, FP32
//     accumulation onto C in k order with round-to-nearest after each step (a GPU's order and
//     internal rounding inside one mma are unspecified: compare with a tolerance);
//   - cp.async as a copy performed at wait_group time, the destination reading as NaN (0xff bytes)
//     between issue and wait, so a read before the wait is caught; the zero-filled tail of the
//     src_bytes form; alignment, a global-memory destination and ldmatrix rows in global memory
//     are errors.
// Not modelled: timing and asynchrony as such, bank conflicts, the L1/L2 cache hints of .ca/.cg,
// other shapes and types (f16 accumulators, int8, fp8, sparse mma), wmma, stmatrix, wgmma/TMA, and
// inline PTX written anywhere else.
#pragma once

#include <cstdint>

#include "core/half.h"
#include "core/hd.h"

#if defined(KILN_EMULATE)
#include <source_location>

#include "kernels/emu/tensor_core.h"
// The emulated calls take the caller's location (for the emulator's warp errors) as a defaulted
// last parameter; under nvcc they have none.
#define KILN_MMA_WHERE , std::source_location where = std::source_location::current()
#else
#define KILN_MMA_WHERE
#endif

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define KILN_MMA_PTX 1
#endif

namespace kiln::mma {

// Two 16-bit values in one register, `lo` in the low half (the fragment packing).
KILN_HD uint32_t pack(bf16 lo, bf16 hi) { return lo.bits | static_cast<uint32_t>(hi.bits) << 16; }
KILN_HD uint32_t pack(f16 lo, f16 hi) { return lo.bits | static_cast<uint32_t>(hi.bits) << 16; }

// cvt.rna.tf32.f32: x rounded to TF32 (nearest, ties away), as the bits of a .b32 operand.
__device__ __forceinline__ uint32_t to_tf32(float x) {
#if defined(KILN_MMA_PTX)
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
#else
  return float_bits(float_to_tf32_rna(x));
#endif
}

#if defined(KILN_MMA_PTX)
#define KILN_MMA_ASM(instr)                                                                   \
  asm(instr " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"                    \
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])                                        \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), \
        "f"(c[2]), "f"(c[3]))
#endif

// D = A * B + C (d may alias c).
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4],
                                                  const uint32_t (&b)[2],
                                                  const float (&c)[4] KILN_MMA_WHERE) {
#if defined(KILN_EMULATE)
  emu::tc::mma(emu::tc::Operand::BF16, d, a, b, c, where);
#elif defined(KILN_MMA_PTX)
  KILN_MMA_ASM("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

__device__ __forceinline__ void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2],
                                                 const float (&c)[4] KILN_MMA_WHERE) {
#if defined(KILN_EMULATE)
  emu::tc::mma(emu::tc::Operand::F16, d, a, b, c, where);
#elif defined(KILN_MMA_PTX)
  KILN_MMA_ASM("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// a and b hold TF32 bit patterns (to_tf32); other FP32 bits are truncated by the tensor core.
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2],
                                                 const float (&c)[4] KILN_MMA_WHERE) {
#if defined(KILN_EMULATE)
  emu::tc::mma(emu::tc::Operand::TF32, d, a, b, c, where);
#elif defined(KILN_MMA_PTX)
  KILN_MMA_ASM("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

#undef KILN_MMA_ASM

#if defined(KILN_MMA_PTX)
__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
#endif

// ldmatrix: `row` is this lane's row address in shared memory (see the table above).
#if defined(KILN_EMULATE)
#define KILN_LDMATRIX(N, TRANS, SUFFIX) emu::tc::ldmatrix<N>(r, row, TRANS, where)
#elif defined(KILN_MMA_PTX)
#define KILN_LDMATRIX(N, TRANS, SUFFIX) KILN_LDMATRIX_##N(SUFFIX)
#define KILN_LDMATRIX_1(SUFFIX)                                                         \
  asm volatile("ldmatrix.sync.aligned.m8n8.x1" SUFFIX ".shared.b16 {%0}, [%1];\n"       \
               : "=r"(r[0]) : "r"(shared_address(row)) : "memory")
#define KILN_LDMATRIX_2(SUFFIX)                                                         \
  asm volatile("ldmatrix.sync.aligned.m8n8.x2" SUFFIX ".shared.b16 {%0,%1}, [%2];\n"    \
               : "=r"(r[0]), "=r"(r[1]) : "r"(shared_address(row)) : "memory")
#define KILN_LDMATRIX_4(SUFFIX)                                                                 \
  asm volatile("ldmatrix.sync.aligned.m8n8.x4" SUFFIX ".shared.b16 {%0,%1,%2,%3}, [%4];\n"      \
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(shared_address(row))     \
               : "memory")
#elif defined(__CUDA_ARCH__)
#define KILN_LDMATRIX(N, TRANS, SUFFIX) __trap()
#else
#define KILN_LDMATRIX(N, TRANS, SUFFIX) (void)r
#endif

__device__ __forceinline__ void ldmatrix_x1(uint32_t (&r)[1], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(1, false, "");
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(2, false, "");
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(4, false, "");
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t (&r)[1], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(1, true, ".trans");
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t (&r)[2], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(2, true, ".trans");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row KILN_MMA_WHERE) {
  KILN_LDMATRIX(4, true, ".trans");
}

#undef KILN_LDMATRIX
#undef KILN_LDMATRIX_1
#undef KILN_LDMATRIX_2
#undef KILN_LDMATRIX_4

// cp.async of Bytes (4, 8 or 16) bytes from global `src` to shared `dst`, both Bytes-aligned; only
// the first src_bytes (0..Bytes) are read, the rest of dst is zero-filled (tails, padding).
// .ca caches in L1 and L2, .cg in L2 only.
template <int Bytes>
__device__ __forceinline__ void cp_async_ca(void* dst, const void* src,
                                            int src_bytes = Bytes KILN_MMA_WHERE) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(KILN_EMULATE)
  emu::tc::cp_async(dst, src, Bytes, src_bytes, where);
#elif defined(KILN_MMA_PTX)
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(shared_address(dst)),
               "l"(src), "n"(Bytes), "r"(src_bytes)
               : "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#else
  (void)dst, (void)src, (void)src_bytes;
#endif
}

__device__ __forceinline__ void cp_async_cg16(void* dst, const void* src,
                                              int src_bytes = 16 KILN_MMA_WHERE) {
#if defined(KILN_EMULATE)
  emu::tc::cp_async(dst, src, 16, src_bytes, where);
#elif defined(KILN_MMA_PTX)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)),
               "l"(src), "r"(src_bytes)
               : "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#else
  (void)dst, (void)src, (void)src_bytes;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(KILN_EMULATE)
  emu::tc::cp_async_commit();
#elif defined(KILN_MMA_PTX)
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// Waits until at most `Pending` of this thread's newest committed groups are still in flight.
// Other threads' copies need a __syncthreads after their wait before this thread reads them.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  static_assert(Pending >= 0 && Pending < 8);
#if defined(KILN_EMULATE)
  emu::tc::cp_async_wait(Pending);
#elif defined(KILN_MMA_PTX)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(KILN_EMULATE)
  emu::tc::cp_async_commit();
  emu::tc::cp_async_wait(0);
#elif defined(KILN_MMA_PTX)
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

}  // namespace kiln::mma

#undef KILN_MMA_WHERE
