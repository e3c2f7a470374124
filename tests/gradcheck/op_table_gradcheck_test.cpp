// The op table's grad mode (as ggml's test-backend-ops has one): every row that names its backward
// (OpCase::gradient, tests/parity/op_table.h) is checked on the CPU twins by central finite
// differences (tests/common/gradcheck.h). The objective is L = sum over the row's `of` outputs of
// r . out with fixed random r, recomputed by the row's own CPU forward; the analytic gradient is
// what the row's backward (the CPU twins of the backward ops) makes of dL/dout = r. A new op whose
// forward row names its backward is gradient-checked on every test shape with no new test code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/stream.h"
#include "tests/common/gradcheck.h"
#include "tests/parity/harness.h"
#include "tests/parity/op_table.h"
#include "tests/reference/compare.h"

namespace kiln::optable {
namespace {

using kiln::testing::check_gradient;
using kiln::testing::FiniteDifference;
using kiln::testing::random_floats;
using kiln::testing::weighted_sum;

const std::vector<OpCase>& test_cases() {
  static const std::vector<OpCase> cases = all_cases(Sizes::Test);
  return cases;
}

struct GradParam {
  size_t case_index;
  std::string name;
};

std::vector<GradParam> params() {
  std::vector<GradParam> out;
  const auto& cases = test_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].gradient) continue;
    std::string name = cases[i].op + "__" + cases[i].shape;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    out.push_back({i, name});
  }
  return out;
}

// gtest prints a failing test's parameter: its name, not its bytes.
void PrintTo(const GradParam& p, std::ostream* os) { *os << p.name; }

class OpGradient : public ::testing::TestWithParam<GradParam> {};

TEST_P(OpGradient, MatchesFiniteDifferences) {
  const OpCase& c = test_cases()[GetParam().case_index];
  const Gradient& g = *c.gradient;
  ASSERT_TRUE(static_cast<bool>(g.backward)) << c.op << " " << c.shape << ": a gradient without a backward";
  ASSERT_FALSE(g.of.empty());
  ASSERT_FALSE(g.wrt.empty());
  for (size_t o : g.of) {
    ASSERT_LT(o, c.buffers.size());
    ASSERT_EQ(c.buffers[o].dtype, DType::F32) << c.buffers[o].name;
    ASSERT_NE(c.buffers[o].role, Role::Input) << c.buffers[o].name << " is weighed by L but never written";
  }
  for (size_t w : g.wrt) {
    ASSERT_LT(w, c.buffers.size());
    ASSERT_EQ(c.buffers[w].dtype, DType::F32) << c.buffers[w].name;
    ASSERT_NE(c.buffers[w].role, Role::Output) << c.buffers[w].name << " is written by the op, not read";
  }
  const Stream cpu = Stream::default_for(Device::cpu());

  // The inputs: the parity fill, then the gradient's own preparation (away from kinks).
  HostBuffers base = make_initial(c, 20261122);
  if (g.prepare) g.prepare(base.args());
  std::vector<std::vector<float>> r;  // dL/d(out j)
  for (size_t j = 0; j < g.of.size(); ++j)
    r.push_back(random_floats(c.buffers[g.of[j]].numel, static_cast<uint32_t>(1000 + j)));

  // L from the current `base` (which the checker perturbs): inputs are read in place, the written
  // and accumulated buffers start from base's copy on every evaluation.
  HostBuffers work = base;
  Args args = base.args();
  for (size_t i = 0; i < c.buffers.size(); ++i)
    if (c.buffers[i].role != Role::Input) args.ptr[i] = work.words[i].data();
  auto objective = [&] {
    for (size_t i = 0; i < c.buffers.size(); ++i)
      if (c.buffers[i].role != Role::Input) work.words[i] = base.words[i];
    c.cpu(args, cpu);
    double l = 0.0;
    for (size_t j = 0; j < g.of.size(); ++j) l += weighted_sum(r[j].data(), args.f(g.of[j]), c.buffers[g.of[j]].numel);
    return l;
  };

  // The analytic gradient: the forward, then the row's backward with dL/dout = r.
  HostBuffers fwd = run_cpu(c, base);
  GradArgs d;
  for (const auto& v : r) d.dy.push_back(v.data());
  std::vector<std::vector<float>> dx;
  for (size_t w : g.wrt) dx.emplace_back(static_cast<size_t>(c.buffers[w].numel), 0.0f);
  for (auto& v : dx) d.dx.push_back(v.data());
  g.backward(fwd.args(), d, cpu);

  const FiniteDifference fd{.eps = g.eps, .atol = g.atol, .rtol = g.rtol, .max_checks = g.max_checks};
  for (size_t j = 0; j < g.wrt.size(); ++j) {
    const Buffer& b = c.buffers[g.wrt[j]];
    EXPECT_TRUE(check_gradient(base.args().f(g.wrt[j]), dx[j].data(), b.numel, objective, fd,
                               c.op + " " + c.shape + " d" + b.name));
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpGradient, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<GradParam>& info) { return info.param.name; });

// Every op that has a backward op in the table is gradient-checked: its forward rows name their
// gradient ("X_forward" beside "X_backward"; GEMM and bias_add, whose backward are other ops, by
// name). Only the rows a finite difference cannot serve (in place, unaligned, logits of 1e4, -inf
// logits, millions of cells) are left out, so at least one row of each must name it.
TEST(OpTableGradients, EveryOpWithABackwardNamesItsGradient) {
  std::set<std::string> ops, with_gradient;
  for (const OpCase& c : test_cases()) {
    ops.insert(c.op);
    if (c.gradient) with_gradient.insert(c.op);
  }
  std::vector<std::string> need = {"gemm", "bias_add", "swap_axes"};
  for (const std::string& op : ops) {
    const std::string suffix = "_backward";
    if (op.size() > suffix.size() && op.compare(op.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string forward = op.substr(0, op.size() - suffix.size()) + "_forward";
      if (ops.count(forward)) need.push_back(forward);
    }
  }
  EXPECT_GE(need.size(), 12u);
  for (const std::string& op : need) {
    EXPECT_TRUE(ops.count(op)) << op << " is not in the op table";
    EXPECT_TRUE(with_gradient.count(op)) << op << ": no row names its backward (OpCase::gradient)";
  }
}

}  // namespace
}  // namespace kiln::optable
