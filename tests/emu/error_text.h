// What the emulator tests assert on errors: the whole text (message and location) of the
// kiln::Error a launch or a runtime call throws.
#pragma once

#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace kiln::testing {

// The error text of a launch that must fail ("" if it did not). With deferred streams
// (KILN_EMU_STREAMS) errors found while the kernel runs surface at the synchronisation.
template <typename F>
std::string launch_error(F&& f) {
  try {
    f();
    cudaDeviceSynchronize();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace kiln::testing

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "want \"" << (part) << "\" in: " << (text)
