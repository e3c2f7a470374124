// cpu_fallback bias add and bias gradient (which accumulates) against the definitional loops.
#include <gtest/gtest.h>

#include <vector>

#include "core/stream.h"
#include "kernels/bias.h"
#include "tests/reference/compare.h"
#include "tests/reference/definitions.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;

TEST(BiasReference, AddAndAccumulatedGradient) {
  const Stream stream = Stream::default_for(Device::cpu());
  for (BiasShape s : {BiasShape{.n = 3, .c = 5, .inner = 13 * 7}, BiasShape{.n = 1, .c = 1, .inner = 1},
                      BiasShape{.n = 64, .c = 1000, .inner = 1}, BiasShape{.n = 2, .c = 96, .inner = 55 * 55}}) {
    const auto b = random_floats(s.c, 3);
    auto y = random_floats(s.size(), 4);
    std::vector<double> yr(y.begin(), y.end());
    cpu::bias_add(s, b.data(), y.data(), stream);
    ref::bias_add<double>(s, b.data(), yr.data());
    ASSERT_TRUE(all_close(y, yr, {1e-7, 1e-6}, "bias_add"));
    auto db = random_floats(s.c, 5);
    std::vector<double> dbr(db.begin(), db.end());
    cpu::bias_backward(s, y.data(), db.data(), stream);
    cpu::bias_backward(s, y.data(), db.data(), stream);  // accumulates: twice the gradient
    ref::bias_backward<double>(s, y.data(), dbr.data());
    ref::bias_backward<double>(s, y.data(), dbr.data());
    ASSERT_TRUE(all_close(db, dbr, {1e-5, 1e-6}, "bias_backward"));
  }
}

}  // namespace
}  // namespace kiln
