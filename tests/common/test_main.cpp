// main() for every kiln test binary: quiet logging (warnings and errors only), then GoogleTest.
#include <gtest/gtest.h>

#include "core/log.h"

int main(int argc, char** argv) {
  kiln::log::set_level(kiln::log::Level::Warn);
  testing::InitGoogleTest(&argc, argv);
  return testing::UnitTest::GetInstance()->Run();
}
