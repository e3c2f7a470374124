// The parity suite: every op x GPU kernel version x shape in the op table, run on the device (the
// emulator in the emulate build) and compared with its cpu_fallback twin on the same inputs.
// Each test also checks guard words after every buffer (out-of-bounds writes), that inputs are
// left untouched, NaN/Inf agreement, and determinism: a second run gives identical bits.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

#include "tests/common/device.h"
#include "tests/parity/harness.h"

namespace kiln::optable {
namespace {

struct ParityParam {
  size_t case_index;
  size_t version_index;
  std::string name;
};

// Sanitizer builds run the parity suite at reduced size (CMake KILN_TEST_REDUCED): only the cases
// whose buffers hold at most this many elements in all, still every op and kernel version.
#ifdef KILN_PARITY_MAX_ELEMENTS
constexpr int64_t kMaxElements = KILN_PARITY_MAX_ELEMENTS;
#else
constexpr int64_t kMaxElements = INT64_MAX;
#endif

int64_t elements(const OpCase& c) {
  int64_t n = 0;
  for (const Buffer& b : c.buffers) n += b.numel;
  return n;
}

const std::vector<OpCase>& test_cases() {
  static const std::vector<OpCase> cases = all_cases(Sizes::Test);
  return cases;
}

std::vector<ParityParam> params() {
  std::vector<ParityParam> out;
  const auto& cases = test_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    if (elements(cases[i]) > kMaxElements) continue;
    for (size_t v = 0; v < cases[i].gpu.size(); ++v) {
      out.push_back({i, v, case_name(cases[i], cases[i].gpu[v].name)});
    }
  }
  return out;
}

class Parity : public testing::TestWithParam<ParityParam> {};

TEST_P(Parity, MatchesCpuTwin) {
  KILN_REQUIRE_DEVICE();
  const OpCase& c = test_cases()[GetParam().case_index];
  const Version& v = c.gpu[GetParam().version_index];
  const HostBuffers initial = make_initial(c, 20261122);
  const HostBuffers ref = run_cpu(c, initial);

  const GpuRun first = run_gpu(c, v, initial);
  for (const std::string& p : first.problems) ADD_FAILURE() << p;
  const Comparison cmp = compare(c, ref, first.result, v.tolerance_scale);
  EXPECT_TRUE(cmp.ok) << c.op << " " << c.shape << " " << v.name << " differs from the CPU:\n" << cmp.summary();

  const GpuRun second = run_gpu(c, v, initial);
  EXPECT_EQ(second.result.words, first.result.words)
      << c.op << " " << c.shape << " " << v.name << ": two runs on the same inputs gave different bits";
}

INSTANTIATE_TEST_SUITE_P(OpTable, Parity, testing::ValuesIn(params()),
                         [](const testing::TestParamInfo<ParityParam>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Parity);

// A reduced-size run (see kMaxElements) still runs every op and every kernel version.
TEST(OpTable, ReducedRunKeepsEveryOpAndVersion) {
  std::set<std::string> all, kept;
  for (const OpCase& c : test_cases()) {
    for (const Version& v : c.gpu) {
      all.insert(c.op + " " + v.name);
      if (elements(c) <= kMaxElements) kept.insert(c.op + " " + v.name);
    }
  }
  for (const std::string& name : all) EXPECT_TRUE(kept.count(name)) << name << " has no case of at most " << kMaxElements << " elements";
}

TEST(OpTable, EveryCaseHasACpuTwinAndBuffers) {
  for (const OpCase& c : test_cases()) {
    EXPECT_TRUE(static_cast<bool>(c.cpu)) << c.op << " " << c.shape;
    EXPECT_FALSE(c.buffers.empty()) << c.op << " " << c.shape;
    for (const Buffer& b : c.buffers) EXPECT_GE(b.numel, 0) << c.op << " " << b.name;
  }
}

}  // namespace
}  // namespace kiln::optable
