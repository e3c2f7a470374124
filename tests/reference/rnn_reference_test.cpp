// cpu_fallback's plain RNN cell against its definition in double (kernels/shapes/rnn.h): the
// forward from the pre-activation, the backward from the derivative of the pre-activation (not
// from the output, as the op computes it), every optional operand present and absent, strided
// rows, in place, and the shapes validate() refuses.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/rnn.h"
#include "tests/reference/compare.h"

namespace kiln {
namespace {

using kiln::testing::all_close;
using kiln::testing::random_floats;
using kiln::testing::Tolerance;

// The pre-activation a (N, H) in double; null operands are zero.
std::vector<double> pre_activation(const RnnCellShape& s, const float* xg, const float* hg, const float* b_ih,
                                   const float* b_hh) {
  std::vector<double> a(static_cast<size_t>(s.cells()));
  for (int r = 0; r < s.n; ++r)
    for (int j = 0; j < s.h; ++j) {
      const int64_t i = static_cast<int64_t>(r) * s.h + j;
      a[i] = double(xg[r * s.xg_stride() + j]) + (hg ? double(hg[i]) : 0.0) + (b_ih ? double(b_ih[j]) : 0.0) +
             (b_hh ? double(b_hh[j]) : 0.0);
    }
  return a;
}

double act(RnnActivation k, double a) { return k == RnnActivation::Relu ? (a > 0 ? a : 0.0) : std::tanh(a); }
double act_grad(RnnActivation k, double a) {
  if (k == RnnActivation::Relu) return a > 0 ? 1.0 : 0.0;
  const double c = std::cosh(a);
  return 1.0 / (c * c);
}

TEST(RnnCellReference, ForwardAndBackwardMatchTheDefinition) {
  const Stream stream = Stream::default_for(Device::cpu());
  uint32_t seed = 100;
  for (RnnActivation k : {RnnActivation::Tanh, RnnActivation::Relu})
    for (RnnCellShape s : {RnnCellShape{.n = 1, .h = 1}, RnnCellShape{.n = 3, .h = 37},
                           RnnCellShape{.n = 5, .h = 20, .x_stride = 47}, RnnCellShape{.n = 64, .h = 700}})
      for (unsigned present = 0; present < 8; ++present) {
        s.activation = k;
        SCOPED_TRACE(fmt::format("{} n{} h{} x_stride{} operands{}", k == RnnActivation::Relu ? "relu" : "tanh", s.n,
                                 s.h, s.x_stride, present));
        const auto xg = random_floats((s.n - 1) * s.xg_stride() + s.h, ++seed, -3.0f, 3.0f);
        const auto hg = random_floats(s.cells(), ++seed), b_ih = random_floats(s.h, ++seed),
                   b_hh = random_floats(s.h, ++seed), dh = random_floats(s.cells(), ++seed);
        const float* hgp = present & 1 ? hg.data() : nullptr;
        const float* bip = present & 2 ? b_ih.data() : nullptr;
        const float* bhp = present & 4 ? b_hh.data() : nullptr;
        std::vector<float> h(static_cast<size_t>(s.cells()), NAN), da(h.size(), NAN);
        cpu::rnn_cell_forward(s, xg.data(), hgp, bip, bhp, h.data(), stream);
        cpu::rnn_cell_backward(s, h.data(), dh.data(), da.data(), stream);

        const std::vector<double> a = pre_activation(s, xg.data(), hgp, bip, bhp);
        std::vector<double> h_ref(a.size()), da_ref(a.size());
        for (size_t i = 0; i < a.size(); ++i) {
          h_ref[i] = act(k, a[i]);
          da_ref[i] = dh[i] * act_grad(k, a[i]);
        }
        // Four float terms summed in float, then tanhf; the backward's 1 - h^2 from a float h
        // loses relative accuracy where h is near +-1 (absolute error ~2 ulp(1)).
        ASSERT_TRUE(all_close(h, h_ref, Tolerance{1e-6, 4e-6}, "rnn h"));
        ASSERT_TRUE(all_close(da, da_ref, Tolerance{2e-6, 4e-6}, "rnn da"));
      }
}

TEST(RnnCellReference, InPlace) {
  // h over a packed xg and da over dh give what separate buffers give, bit for bit.
  const Stream stream = Stream::default_for(Device::cpu());
  for (RnnActivation k : {RnnActivation::Tanh, RnnActivation::Relu}) {
    const RnnCellShape s{.n = 6, .h = 45, .activation = k};
    const auto xg = random_floats(s.cells(), 7, -3.0f, 3.0f), hg = random_floats(s.cells(), 8),
               b = random_floats(s.h, 9), dh = random_floats(s.cells(), 10);
    std::vector<float> h(xg.size()), da(xg.size());
    cpu::rnn_cell_forward(s, xg.data(), hg.data(), b.data(), b.data(), h.data(), stream);
    cpu::rnn_cell_backward(s, h.data(), dh.data(), da.data(), stream);
    std::vector<float> x_h = xg, dh_da = dh;
    cpu::rnn_cell_forward(s, x_h.data(), hg.data(), b.data(), b.data(), x_h.data(), stream);
    cpu::rnn_cell_backward(s, x_h.data(), dh_da.data(), dh_da.data(), stream);
    EXPECT_EQ(x_h, h);
    EXPECT_EQ(dh_da, da);
  }
}

TEST(RnnCellReference, ValidateRefusesBadShapes) {
  EXPECT_THROW((RnnCellShape{.n = 0, .h = 4}.validate()), Error);
  EXPECT_THROW((RnnCellShape{.n = 2, .h = 0}.validate()), Error);
  EXPECT_THROW((RnnCellShape{.n = 2, .h = 8, .x_stride = 7}.validate()), Error);
  EXPECT_THROW((RnnCellShape{.n = 1 << 16, .h = 1 << 15}.validate()), Error);  // 2^31 cells
  EXPECT_NO_THROW((RnnCellShape{.n = 2, .h = 8, .x_stride = 8}.validate()));
  EXPECT_NO_THROW((RnnCellShape{.n = 65535, .h = 1 << 15}.validate()));  // 2^31 - 2^15 cells
}

}  // namespace
}  // namespace kiln
