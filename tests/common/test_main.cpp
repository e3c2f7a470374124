// main() for every kiln test binary: quiet logging (warnings and errors only), then GoogleTest.
#include <gtest/gtest.h>

#include "core/log.h"

#if defined(__SANITIZE_THREAD__)
#include <unistd.h>

#include <cstdlib>

// The racecheck build (-DKILN_SANITIZE=thread): a data race fails the test, with TSan's report.
// TSAN_OPTIONS in the environment still overrides it.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }

// libgomp and OpenBLAS are not built with ThreadSanitizer, so it cannot see how they synchronise
// their threads and would report races in the CPU reference code: it runs single-threaded here.
// Both read their thread counts when they are loaded, before main, hence the re-exec.
static void single_threaded_cpu_libraries(char** argv) {
  if (std::getenv("OMP_NUM_THREADS") && std::getenv("OPENBLAS_NUM_THREADS")) return;
  setenv("OMP_NUM_THREADS", "1", 0);
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  execv("/proc/self/exe", argv);
}
#endif

int main(int argc, char** argv) {
#if defined(__SANITIZE_THREAD__)
  single_threaded_cpu_libraries(argv);
#endif
  kiln::log::set_level(kiln::log::Level::Warn);
  testing::InitGoogleTest(&argc, argv);
  return testing::UnitTest::GetInstance()->Run();
}
