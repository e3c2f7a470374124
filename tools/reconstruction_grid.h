// The picture `kiln eval --reconstructions` writes: K originals in a row above their K
// reconstructions, each a (C, H, W) image with values in [0, 1] (clamped, then rounded to 8 bits).
#pragma once

#include "core/shape.h"
#include "core/tensor.h"
#include "tools/png_writer.h"

namespace kiln {

// `originals` and `reconstructions`: (K, C*H*W) float host tensors (planar, as the data and an
// MLP decoder lay them out); `sample` = (C, H, W) with C = 1 (gray) or 3 (RGB). The result is
// K*W wide and 2*H high. Throws kiln::Error naming what does not fit.
Image8 reconstruction_grid(const Tensor& originals, const Tensor& reconstructions, const Shape& sample);

}  // namespace kiln
