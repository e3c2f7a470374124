// GPU dropout. One thread per Philox block of the GLOBAL index space: the 4 words of block b decide
// global elements 4b..4b+3 (kernels/shapes/dropout.h: element i of the call is kept iff
// philox_u32(seed, offset, first + i) >= threshold, and philox_u32 reads word g % 4 of block g / 4),
// so each thread runs Philox4x32-10 once for up to 4 elements. The blocks covering
// [first, first + count) are first/4 .. (first + count - 1)/4; the first and last may be partial
// (first % 4 != 0, or a tail), and those elements take the per-element path with explicit bounds.
// When first % 4 == 0 and the pointers are 16-byte aligned, whole blocks move as one float4.
// y = x * scale is one rounded multiply, so outputs equal the CPU's bit for bit. The backward is the
// same kernel on dy: the mask is recomputed, never stored. In place allowed (each element is read,
// then written, by one thread; blocks never share an element).
#include <cstdint>

#include "core/philox.h"
#include "core/stream.h"
#include "kernels/dropout.h"
#include "kernels/grid.cuh"
#include "kernels/launch.cuh"

namespace kiln::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
dropout_apply_kernel(int64_t count, uint64_t seed, uint64_t offset, uint64_t first, uint32_t threshold, float scale,
                     bool vec, const float* x, float* y) {
  // lead = first % 4 elements of the first block lie before this call's slice (vec implies lead 0).
  const int64_t lead = static_cast<int64_t>(first & 3);
  const int64_t blocks = (lead + count + 3) / 4;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * kThreads) {
    const Philox4x32 r = philox_block(seed, offset, first / 4 + static_cast<uint64_t>(b));
    const int64_t i0 = b * 4 - lead;  // the call's index of the block's word 0 (negative: before it)
    if (vec && i0 + 3 < count) {
      float4 v = reinterpret_cast<const float4*>(x)[b];
      v.x = r.v[0] >= threshold ? v.x * scale : 0.0f;
      v.y = r.v[1] >= threshold ? v.y * scale : 0.0f;
      v.z = r.v[2] >= threshold ? v.z * scale : 0.0f;
      v.w = r.v[3] >= threshold ? v.w * scale : 0.0f;
      reinterpret_cast<float4*>(y)[b] = v;
    } else {
      for (int j = 0; j < 4; ++j) {
        const int64_t i = i0 + j;
        if (i >= 0 && i < count) y[i] = r.v[j] >= threshold ? x[i] * scale : 0.0f;
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads)
dropout_mask_kernel(int64_t count, uint64_t seed, uint64_t offset, uint64_t first, uint32_t threshold,
                    uint8_t* __restrict__ mask) {
  const int64_t lead = static_cast<int64_t>(first & 3);
  const int64_t blocks = (lead + count + 3) / 4;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * kThreads) {
    const Philox4x32 r = philox_block(seed, offset, first / 4 + static_cast<uint64_t>(b));
    const int64_t i0 = b * 4 - lead;
    for (int j = 0; j < 4; ++j) {
      const int64_t i = i0 + j;
      if (i >= 0 && i < count) mask[i] = r.v[j] >= threshold ? 1 : 0;
    }
  }
}


static void apply(const DropoutShape& s, const float* x, float* y, const Stream& stream) {
  s.validate();
  if (s.count == 0) return;
  const int64_t blocks = (static_cast<int64_t>(s.first & 3) + s.count + 3) / 4;
  const bool vec = s.first % 4 == 0 && aligned16(x) && aligned16(y);
  launch(dropout_apply_kernel, grid_blocks(blocks, kThreads), kThreads, 0, stream, s.count, s.seed, s.offset, s.first,
         s.threshold(), s.scale(), vec, x, y);
}

}  // namespace

void dropout_forward(const DropoutShape& shape, const float* x, float* y, const Stream& stream) {
  apply(shape, x, y, stream);
}

void dropout_backward(const DropoutShape& shape, const float* dy, float* dx, const Stream& stream) {
  apply(shape, dy, dx, stream);
}

void dropout_mask(const DropoutShape& shape, uint8_t* mask, const Stream& stream) {
  shape.validate();
  if (shape.count == 0) return;
  const int64_t blocks = (static_cast<int64_t>(shape.first & 3) + shape.count + 3) / 4;
  launch(dropout_mask_kernel, grid_blocks(blocks, kThreads), kThreads, 0, stream, shape.count, shape.seed, shape.offset,
         shape.first, shape.threshold(), mask);
}

}  // namespace kiln::gpu
