// cpu_fallback activations (relu, leaky relu, elu, sigmoid, tanh) against their definitions in
// double, forward, backward and in place.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/activation.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(ActivationReference, ForwardBackwardAndInPlace) {
  const Stream stream = Stream::default_for(Device::cpu());
  const ActivationShape kinds[] = {{.kind = Activation::Relu},
                                   {.kind = Activation::LeakyRelu, .param = 0.01f},
                                   {.kind = Activation::LeakyRelu, .param = 0.2f},
                                   {.kind = Activation::Elu, .param = 1.0f},
                                   {.kind = Activation::Elu, .param = 0.5f},
                                   {.kind = Activation::Sigmoid},
                                   {.kind = Activation::Tanh}};
  for (ActivationShape s : kinds) {
    SCOPED_TRACE(activation_name(s.kind));
    s.count = 100003;  // crosses the parallel threshold, odd
    auto x = random_floats(s.count, 11, -6.0f, 6.0f);
    x[0] = 0.0f;  // the kink: left derivative
    x[1] = -90.0f;
    x[2] = 90.0f;
    const auto dy = random_floats(s.count, 12);
    std::vector<float> y(x.size()), dx(x.size());
    cpu::activation_forward(s, x.data(), y.data(), stream);
    cpu::activation_backward(s, y.data(), dy.data(), dx.data(), stream);
    std::vector<double> yr(x.size()), dxr(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      yr[i] = ref::activation<double>(s.kind, s.param, x[i]);
      dxr[i] = dy[i] * ref::activation_derivative<double>(s.kind, s.param, x[i]);
    }
    ASSERT_TRUE(all_close(y, yr, {1e-7, 4e-7}, "forward"));
    // Reading the derivative from the rounded y costs a few ulps of y (1 - y^2 near |y| = 1).
    ASSERT_TRUE(all_close(dx, dxr, {1e-6, 1e-5}, "backward"));
    // In place: forward x == y, backward dx == dy, same bits.
    std::vector<float> inplace = x;
    cpu::activation_forward(s, inplace.data(), inplace.data(), stream);
    EXPECT_EQ(0, std::memcmp(inplace.data(), y.data(), y.size() * 4));
    std::vector<float> g = dy;
    cpu::activation_backward(s, inplace.data(), g.data(), g.data(), stream);
    EXPECT_EQ(0, std::memcmp(g.data(), dx.data(), dx.size() * 4));
  }
  EXPECT_THROW(cpu::activation_forward({.count = 1, .kind = Activation::Elu, .param = 0.0f}, nullptr, nullptr,
                                       stream),
               Error);
}

}  // namespace
}  // namespace kiln
