// The emulator's tensor-core layer: what kernels/mma.cuh runs under KILN_EMULATE instead of its
// inline PTX. Kernel code never includes this file; it calls kiln::mma:: (kernels/mma.cuh).
//
// mma and ldmatrix are warp-collective, with the fragment layouts of the PTX ISA ("Matrix Fragments
// for mma.m16n8k16 with floating point type", "... for mma.m16n8k8" .tf32, and ldmatrix's address
// table and Figure "ldmatrix fragment layout"): every lane puts its registers (or its row address)
// into its slot of a per-warp exchange area, all 32 lanes meet at __syncwarp, every lane reads
// the slots it needs and computes its own result, and all meet at __syncwarp again before any slot
// is written for the next operation. So a missing lane is the emulator's deadlock error (as the
// `.sync.aligned` forms require all 32), and under the ThreadSanitizer model (__syncwarp is the only
// ordering between lanes) the exchange is race-free. The exchange area is this worker's (a worker
// runs one block at a time, all its threads on one OS thread), indexed by the thread's linear id;
// it is not shared memory, so it does not count against the block's shared-memory limits.
//
// cp.async: the copy is done at cp.async.wait_group time, not at issue, and the destination is
// filled with 0xff bytes (NaN as float) at issue: a kernel that reads shared memory before waiting
// for the group that fills it sees NaN, never data that happens to have arrived. The source is read
// at issue (a GPU reads it some time between issue and wait). Each thread keeps its own queue of
// pending copies, numbered by the commit group they belong to.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/emu/access_count.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/sanitizer.h"

// Access counting (access_count.h): the emulated instructions below touch memory in an order and
// from lanes of their own; the counting build sees them as the GPU issues them instead, one
// explicit record per lane at the kernel's call site, and does not instrument their bodies.
#if defined(KILN_EMU_ACCESS_COUNT)
// noinline: inlined into the kernel, the body would be instrumented as the kernel's.
#define KILN_TC_UNCOUNTED __attribute__((no_sanitize("kernel-address"), noinline))
#define KILN_TC_UNINSTRUMENTED __attribute__((no_sanitize("kernel-address")))
#define KILN_TC_COUNT(addr, bytes, store, where) ::kiln::emu::access::record(addr, bytes, store, where)
#else
#define KILN_TC_UNCOUNTED
#define KILN_TC_UNINSTRUMENTED
#define KILN_TC_COUNT(addr, bytes, store, where) ((void)0)
#endif

namespace kiln::emu::tc {

inline constexpr unsigned kFullWarp = 0xffffffffu;

// One lane's contribution to a warp-collective operation.
struct LaneSlot {
  uint32_t a[4];
  uint32_t b[2];
  float c[4];
  const void* addr;
};

// The calling warp's 32 slots (this worker's exchange area) and the caller's lane.
inline LaneSlot* warp_slots(unsigned& lane) {
  // 1024: the most threads a block can have. A trivial array, zero-initialised with the thread: a
  // lazily constructed one has an init guard that every lane reads and the first lane writes, which
  // the racecheck build rightly reports.
  static thread_local LaneSlot slots[1024];
  // The slots are the emulator's, reused by every block on this worker: callers touch them only
  // inside a san::Ignore, so the racecheck build sees the kernel's own accesses, not these.
  const uint32_t linear = detail::tl_thread->linear;
  lane = linear & 31u;
  return slots + (linear & ~31u);
}

[[noreturn]] inline void fault(const std::string& what, const std::source_location& where) {
  fail(format_message("{} (at {}:{})", what, where.file_name(), where.line()));
}

// ---- mma ----------------------------------------------------------------------------------------
// Element i of a lane's A/B fragment for m16n8k16 .f16/.bf16 (two 16-bit elements per .b32
// register, element 2j in the low half of register j), as (row, col) of the 16x16 A or 16x8 B.
inline void a_16816(unsigned lane, int i, int& row, int& col) {
  const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3u);
  row = g + ((i & 2) ? 8 : 0);
  col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
}
inline void b_16816(unsigned lane, int i, int& row, int& col) {
  const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3u);
  row = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
  col = g;
}
// m16n8k8 .tf32: one element per register.
inline void a_1688_tf32(unsigned lane, int i, int& row, int& col) {
  const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3u);
  row = g + ((i & 1) ? 8 : 0);
  col = t + (i >= 2 ? 4 : 0);
}
inline void b_1688_tf32(unsigned lane, int i, int& row, int& col) {
  const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3u);
  row = t + (i == 1 ? 4 : 0);
  col = g;
}
// C/D (f32) of both shapes.
inline void c_16n8(unsigned lane, int i, int& row, int& col) {
  const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3u);
  row = g + (i >= 2 ? 8 : 0);
  col = t * 2 + (i & 1);
}

enum class Operand : uint8_t { BF16, F16, TF32 };

inline float operand_value(Operand type, uint32_t bits) {
  switch (type) {
    case Operand::BF16: return bf16_to_float(bf16{static_cast<uint16_t>(bits)});
    case Operand::F16: return f16_to_float(f16{static_cast<uint16_t>(bits)});
    case Operand::TF32: return tf32_truncate(bits_float(bits));
  }
  return 0.0f;
}

// D = A * B + C for one warp. Products of BF16/F16/TF32 operands are exact in FP32 (barring
// underflow); they are accumulated in FP32 onto C in k order (k = 0, 1, ...), each step rounded to
// nearest (fmaf). Hardware order and rounding inside one mma are unspecified; tests compare with a
// tolerance.
inline void mma(Operand type, float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                const float (&c)[4], const std::source_location& where) {
  unsigned lane;
  LaneSlot* warp = warp_slots(lane);
  {
    san::Ignore emulator_state;
    std::memcpy(warp[lane].a, a, sizeof a);
    std::memcpy(warp[lane].b, b, sizeof b);
  }
  __syncwarp(kFullWarp, where);
  const bool tf32 = type == Operand::TF32;
  const int k_dim = tf32 ? 8 : 16;
  float am[16][16], bm[16][8];  // the warp's A (16 x K) and B (K x 8), rebuilt from the fragments
  std::optional<san::Ignore> reading_slots(std::in_place);
  for (unsigned l = 0; l < 32; ++l) {
    for (int i = 0; i < (tf32 ? 4 : 8); ++i) {
      int r, col;
      tf32 ? a_1688_tf32(l, i, r, col) : a_16816(l, i, r, col);
      const uint32_t bits = tf32 ? warp[l].a[i] : warp[l].a[i / 2] >> (16 * (i & 1));
      am[r][col] = operand_value(type, tf32 ? bits : bits & 0xffffu);
    }
    for (int i = 0; i < (tf32 ? 2 : 4); ++i) {
      int r, col;
      tf32 ? b_1688_tf32(l, i, r, col) : b_16816(l, i, r, col);
      const uint32_t bits = tf32 ? warp[l].b[i] : warp[l].b[i / 2] >> (16 * (i & 1));
      bm[r][col] = operand_value(type, tf32 ? bits : bits & 0xffffu);
    }
  }
  reading_slots.reset();
  float out[4];
  for (int i = 0; i < 4; ++i) {
    int r, col;
    c_16n8(lane, i, r, col);
    float acc = c[i];
    for (int k = 0; k < k_dim; ++k) acc = std::fma(am[r][k], bm[k][col], acc);
    out[i] = acc;
  }
  __syncwarp(kFullWarp, where);  // every lane has read the slots before any is written again
  for (int i = 0; i < 4; ++i) d[i] = out[i];
}

// ---- ldmatrix -----------------------------------------------------------------------------------
// The kernel's shared-memory read of 16-bit element `col` of a row (counted as the row's 16-byte
// access where the lane gives it, not here).
KILN_TC_UNINSTRUMENTED inline uint16_t row_element(const void* row, unsigned col) {
  uint16_t v;
  std::memcpy(&v, static_cast<const char*>(row) + 2 * col, 2);
  return v;
}

// Lanes 8j..8j+7 give the row addresses of matrix j (rows of 8 16-bit elements, 16 bytes,
// 16-byte aligned); register j of lane l gets, with q = l / 4 and t = l % 4, elements
// M_j[q][2t] (low half) and M_j[q][2t+1] (high half), or with .trans M_j[2t][q] and M_j[2t+1][q].
// The addresses of the other lanes are ignored (sm_80 and later).
template <int N>
KILN_TC_UNCOUNTED inline void ldmatrix(uint32_t (&r)[N], const void* row, bool trans,
                     const std::source_location& where) {
  static_assert(N == 1 || N == 2 || N == 4);
  unsigned lane;
  LaneSlot* warp = warp_slots(lane);
  {
    san::Ignore emulator_state;
    warp[lane].addr = row;
  }
  if (lane < 8u * N) {
    KILN_TC_COUNT(row, 16, false, where);  // one 16-byte row per lane (8 lanes per wavefront)
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0)
      fault(format_message("ldmatrix: lane {} gives row address {} that is not 16-byte aligned",
                           lane, row), where);
    if (memory_space(row) != MemorySpace::Host)
      fault(format_message("ldmatrix: lane {} gives row address {} in global memory; ldmatrix "
                           "reads shared memory", lane, row), where);
  }
  __syncwarp(kFullWarp, where);
  const void* rows[8 * N];  // the row addresses the lanes gave
  {
    san::Ignore emulator_state;
    for (int i = 0; i < 8 * N; ++i) rows[i] = warp[i].addr;
  }
  const unsigned q = lane >> 2, t = lane & 3u;
  uint32_t out[N];
  for (int j = 0; j < N; ++j) {
    uint16_t lo, hi;
    const auto elem = [&](unsigned matrix_row, unsigned col) {
      return row_element(rows[8 * j + matrix_row], col);
    };
    if (trans) {
      lo = elem(2 * t, q);
      hi = elem(2 * t + 1, q);
    } else {
      lo = elem(q, 2 * t);
      hi = elem(q, 2 * t + 1);
    }
    out[j] = lo | static_cast<uint32_t>(hi) << 16;
  }
  __syncwarp(kFullWarp, where);
  for (int j = 0; j < N; ++j) r[j] = out[j];
}

// ---- cp.async -----------------------------------------------------------------------------------
struct PendingCopy {
  void* dst;
  uint32_t group;  // the commit group it belongs to (the number of commits before its issue)
  uint8_t bytes;
  uint8_t data[16];
};

// Which block a thread's queue belongs to. A thread that exits with copies pending leaves them in
// its queue (the emulator cannot see the exit from here); the next block to use the slot drops
// them, as its shared memory is not the exited block's.
struct BlockStamp {
  uint3 block, grid;
  dim3 dim;
  const void* dynamic_shared;
  bool operator==(const BlockStamp& o) const {
    return block.x == o.block.x && block.y == o.block.y && block.z == o.block.z &&
           grid.x == o.grid.x && grid.y == o.grid.y && grid.z == o.grid.z && dim.x == o.dim.x &&
           dim.y == o.dim.y && dim.z == o.dim.z && dynamic_shared == o.dynamic_shared;
  }
};

struct CopyQueue {
  std::vector<PendingCopy> pending;
  uint32_t committed = 0;
  BlockStamp stamp{};
};

inline CopyQueue& copy_queue() {
  thread_local std::vector<CopyQueue> queues(1024);
  const Block& b = *detail::tl_block;
  const BlockStamp now{b.idx, uint3{b.grid.x, b.grid.y, b.grid.z}, b.dim, b.dynamic_shared};
  CopyQueue& q = queues[detail::tl_thread->linear];
  if (!(q.stamp == now)) {
    q.pending.clear();
    q.committed = 0;
    q.stamp = now;
  }
  return q;
}

KILN_TC_UNCOUNTED inline void cp_async(void* dst, const void* src, int cp_bytes, int src_bytes,
                     const std::source_location& where) {
  if (src_bytes < 0 || src_bytes > cp_bytes)
    fault(format_message("cp.async: src-size {} outside 0..{}", src_bytes, cp_bytes), where);
  if (reinterpret_cast<uintptr_t>(dst) % cp_bytes || reinterpret_cast<uintptr_t>(src) % cp_bytes)
    fault(format_message("cp.async of {} bytes from {} to {}: both addresses must be {}-byte "
                         "aligned", cp_bytes, src, dst, cp_bytes), where);
  if (memory_space(dst) != MemorySpace::Host)
    fault(format_message("cp.async: destination {} is global memory; cp.async writes shared "
                         "memory", dst), where);
  if (src_bytes > 0) KILN_TC_COUNT(src, static_cast<unsigned>(src_bytes), false, where);
  KILN_TC_COUNT(dst, static_cast<unsigned>(cp_bytes), true, where);
  PendingCopy p{dst, 0, static_cast<uint8_t>(cp_bytes), {}};
  if (src_bytes > 0) std::memcpy(p.data, src, static_cast<size_t>(src_bytes));  // rest: zero-fill
  {
    san::Ignore emulator_state;  // the queue is the emulator's; the copies are the kernel's
    CopyQueue& q = copy_queue();
    p.group = q.committed;
    q.pending.push_back(p);
  }
  std::memset(dst, 0xff, static_cast<size_t>(cp_bytes));  // undefined until the wait: NaN
}

inline void cp_async_commit() {
  san::Ignore emulator_state;
  ++copy_queue().committed;
}

// Completes every copy of the committed groups but the newest `newest_pending` ones.
KILN_TC_UNCOUNTED inline void cp_async_wait(uint32_t newest_pending) {
  std::vector<PendingCopy> landing;
  {
    san::Ignore emulator_state;
    CopyQueue& q = copy_queue();
    const uint32_t limit = q.committed > newest_pending ? q.committed - newest_pending : 0;
    size_t kept = 0;
    for (const PendingCopy& p : q.pending) {
      if (p.group < limit)
        landing.push_back(p);
      else
        q.pending[kept++] = p;
    }
    q.pending.resize(kept);
  }
  for (const PendingCopy& p : landing) std::memcpy(p.dst, p.data, p.bytes);  // the kernel's writes
}

}  // namespace kiln::emu::tc
