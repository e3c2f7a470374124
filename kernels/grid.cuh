// Launch helpers the kernels share: grid sizing for grid-stride kernels, the test hook that shrinks
// their grids, and the alignment test that picks a kernel's float4 path.
//
// kiln's elementwise and gather kernels loop `for (i = global id; i < n; i += grid size)`, so their
// results never depend on how many blocks are launched. grid_blocks() launches enough blocks to
// cover the work, capped (a few waves on the largest GPU: more blocks only add scheduling cost).
// The parity suite runs every such kernel a second time with the cap forced to 1..3 blocks
// (ScopedGridLimit), which makes every thread walk its loop several times: the loop bounds and
// tails are tested, not just the one-pass case.
//
// Plain C++ (no CUDA): includable from host code and tests.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace kiln::gpu {

// The limit every thread starts with: env KILN_TEST_GRID_LIMIT (blocks; unset or 0 = none). A test
// run can shrink every grid-stride launch with it, e.g. the racecheck build's CI run, where each
// emulated GPU thread costs a ThreadSanitizer fiber (kernels/emu/README.md, "Racecheck").
inline unsigned grid_limit_from_env() {
  static const unsigned limit = [] {
    const char* e = std::getenv("KILN_TEST_GRID_LIMIT");
    return e ? static_cast<unsigned>(std::strtoul(e, nullptr, 10)) : 0u;
  }();
  return limit;
}

// The test limit for the calling thread (launches run on the thread that issues them); 0 = none.
inline unsigned& grid_limit_for_testing() {
  thread_local unsigned limit = grid_limit_from_env();
  return limit;
}

// Sets the limit for its lifetime (tests only).
class ScopedGridLimit {
 public:
  explicit ScopedGridLimit(unsigned blocks) : previous_(grid_limit_for_testing()) {
    grid_limit_for_testing() = blocks;
  }
  ~ScopedGridLimit() { grid_limit_for_testing() = previous_; }
  ScopedGridLimit(const ScopedGridLimit&) = delete;
  ScopedGridLimit& operator=(const ScopedGridLimit&) = delete;

 private:
  unsigned previous_;
};

// Blocks for `items` work items at `per_block` items per block: at least 1, at most `cap`
// (and at most the test limit when one is set).
inline unsigned grid_blocks(int64_t items, int64_t per_block, unsigned cap = 8192) {
  int64_t b = per_block > 0 ? (items + per_block - 1) / per_block : 1;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  const unsigned limit = grid_limit_for_testing();
  if (limit > 0 && b > limit) b = limit;
  return static_cast<unsigned>(b);
}

// Whether `p` is 16-byte aligned: the vectorised (float4) path of a kernel may read or write there.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace kiln::gpu
