// cpu_fallback LRN against the definitional loops in double, at AlexNet's and other parameters.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/stream.h"
#include "kernels/lrn.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(LrnReference, AlexNetAndEvenSizes) {
  const Stream stream = Stream::default_for(Device::cpu());
  const LrnShape shapes[] = {{.n = 2, .c = 16, .h = 5, .w = 7},
                             {.n = 1, .c = 3, .h = 1, .w = 1},
                             {.n = 2, .c = 7, .h = 3, .w = 4, .size = 4, .alpha = 0.5f, .beta = 0.6f, .k = 1.0f},
                             {.n = 1, .c = 9, .h = 2, .w = 3, .size = 3, .alpha = 2.0f, .beta = 1.5f, .k = 0.5f}};
  for (const LrnShape& s : shapes) {
    SCOPED_TRACE(fmt::format("C{} size{} alpha{} beta{} k{}", s.c, s.size, s.alpha, s.beta, s.k));
    // Large inputs so alpha/size * x^2 matters at AlexNet's alpha (activations ~ tens).
    const float amp = s.alpha < 1e-3f ? 40.0f : 1.5f;
    const auto x = random_floats(s.x_size(), 21, -amp, amp);
    const auto dy = random_floats(s.x_size(), 22);
    std::vector<float> y(x.size()), scale(x.size()), dx(x.size(), NAN);
    cpu::lrn_forward(s, x.data(), y.data(), scale.data(), stream);
    cpu::lrn_backward(s, x.data(), y.data(), scale.data(), dy.data(), dx.data(), stream);
    std::vector<double> yr(x.size()), dxr(x.size());
    ref::lrn_forward<double>(s, x.data(), yr.data());
    ref::lrn_backward<double>(s, x.data(), dy.data(), dxr.data());
    ASSERT_TRUE(all_close(y, yr, {1e-6, 2e-6}, "forward"));
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-5}, "backward"));
  }
}

}  // namespace
}  // namespace kiln
