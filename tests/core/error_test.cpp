#include <gtest/gtest.h>

#include "core/error.h"

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {
namespace {

TEST(Error, WhatHasTheMessageAndTheSourceLine) {
  try {
    KILN_CHECK(1 + 1 == 3, "conv2d: input {} does not match weight {}", "(1, 3, 5, 5)", "(4, 2, 3, 3)");
    FAIL() << "KILN_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "conv2d: input (1, 3, 5, 5) does not match weight (4, 2, 3, 3)");
    EXPECT_TRUE(e.location().starts_with("tests/core/error_test.cpp:")) << e.location();
    EXPECT_EQ(std::string(e.what()), e.message() + " [" + e.location() + "]");
  }
}

TEST(Error, PassingCheckDoesNothing) { EXPECT_NO_THROW(KILN_CHECK(true, "never {}", 1)); }

#if KILN_WITH_DEVICE
TEST(Error, CudaStatusBecomesItsNameAndText) {
  try {
    KILN_CUDA_CHECK(cudaErrorMemoryAllocation);
    FAIL() << "KILN_CUDA_CHECK did not throw";
  } catch (const Error& e) {
    const std::string m = e.message();
    EXPECT_NE(m.find("CUDA call cudaErrorMemoryAllocation failed"), std::string::npos) << m;
    EXPECT_NE(m.find("cudaErrorMemoryAllocation ("), std::string::npos) << m;  // name, then text
    EXPECT_TRUE(e.location().starts_with("tests/core/error_test.cpp:")) << e.location();
  }
}
#endif

}  // namespace
}  // namespace kiln
