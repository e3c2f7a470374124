#include "layers/tensor_ops.h"

#include <algorithm>
#include <climits>

#include "core/error.h"
#include "kernels/bias.h"
#include "kernels/dispatch.h"

namespace kiln::graph {

void add_into(Tensor& y, const Tensor& x, const Stream& stream) {
  KILN_CHECK(y.numel() == x.numel() && y.device() == x.device(), "add_into: {} += {}: sizes or devices differ",
             y.str(), x.str());
  float* yp = y.data<float>();
  const float* xp = x.data<float>();
  // y[0, c, 0] += bias[c] with C = count, in chunks that fit BiasShape's int.
  for (int64_t begin = 0; begin < y.numel(); begin += INT_MAX) {
    const BiasShape s{.n = 1, .c = static_cast<int>(std::min<int64_t>(INT_MAX, y.numel() - begin)), .inner = 1};
    KILN_DISPATCH(y.device(), bias_add, s, xp + begin, yp + begin, stream);
  }
}

}  // namespace kiln::graph
