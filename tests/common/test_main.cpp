// main() for every kiln test binary: quiet logging (warnings and errors only), then GoogleTest.
#include <gtest/gtest.h>

#include "core/log.h"

#if defined(__SANITIZE_THREAD__)
// The racecheck build (-DKILN_SANITIZE=thread): a data race fails the test, with TSan's report.
// TSAN_OPTIONS in the environment still overrides it.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }
#endif

int main(int argc, char** argv) {
  kiln::log::set_level(kiln::log::Level::Warn);
  testing::InitGoogleTest(&argc, argv);
  return testing::UnitTest::GetInstance()->Run();
}
