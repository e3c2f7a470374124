// Helpers for tests that need a CUDA device (real, or the emulator in the emulate build).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/device.h"

// Skips the current test, saying why, when this build or machine has no usable CUDA device.
#define KILN_REQUIRE_DEVICE()                                         \
  do {                                                                \
    std::string kiln_why_;                                            \
    if (!::kiln::cuda_available(&kiln_why_))                          \
      GTEST_SKIP() << "needs a CUDA device: " << kiln_why_;          \
  } while (0)
