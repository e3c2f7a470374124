// error_of(f): the message of the kiln::Error that f throws, for tests of error messages.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace kiln::testing {

// The message of the kiln::Error thrown by f (fails the test when nothing is thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const kiln::Error& e) {
    return e.message();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return {};
}

}  // namespace kiln::testing
