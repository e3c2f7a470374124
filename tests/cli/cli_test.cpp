// The `kiln` command as a user runs it: exit codes, and what it prints.
#include <gtest/gtest.h>

#include <string>

#include "tests/common/run_command.h"

namespace kiln {
namespace {

using kiln::testing::run_command;

const std::string kKiln = KILN_BINARY;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Cli, VersionNamesTheBuildFlavour) {
  const auto r = run_command(kKiln + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "kiln 0.")) << r.output;
  EXPECT_TRUE(contains(r.output, std::string(KILN_FLAVOUR) + " build")) << r.output;
}

TEST(Cli, HelpListsTheCommands) {
  const auto r = run_command(kKiln + " --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "info")) << r.output;
}

TEST(Cli, InfoReportsFlavourDevicesAndVersions) {
  const auto r = run_command(kKiln + " info");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, std::string("build flavour : ") + KILN_FLAVOUR)) << r.output;
  EXPECT_TRUE(contains(r.output, "OpenBLAS")) << r.output;
  EXPECT_TRUE(contains(r.output, "cuDNN")) << r.output;
  const std::string flavour = KILN_FLAVOUR;
  if (flavour == "off") {
    EXPECT_TRUE(contains(r.output, "CUDA devices  : none (this kiln was built without GPU support")) << r.output;
  } else if (flavour == "emulate") {
    EXPECT_TRUE(contains(r.output, "(emulated on the CPU)")) << r.output;
  } else {
    // A cuda build: either real devices are listed, or it says why there are none.
    EXPECT_TRUE(contains(r.output, "CUDA devices  : none (") || contains(r.output, "compute capability"))
        << r.output;
  }
}

TEST(Cli, InfoReportsTheCommunicationLibraries) {
  const auto r = run_command(kKiln + " info");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The MPI library's own version string and the standard it implements, else what to install.
  if (KILN_TEST_HAS_MPI) {
    EXPECT_TRUE(contains(r.output, "MPI           : ") && contains(r.output, " (MPI 3.")) << r.output;
  } else {
    EXPECT_TRUE(contains(r.output, "MPI           : not built with MPI (apt-get install libopenmpi-dev")) << r.output;
  }
  EXPECT_TRUE(contains(r.output, KILN_TEST_HAS_NCCL ? "NCCL          : 2." : "NCCL          : not built with NCCL")) << r.output;
}

TEST(Cli, UnknownCommandIsOneClearLineAndExitCode2) {
  const auto r = run_command(kKiln + " frobnicate");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "kiln: error:")) << r.output;
  EXPECT_FALSE(contains(r.output, "terminate")) << r.output;
}

TEST(Cli, BadLogLevelIsAClearError) {
  const auto r = run_command(kKiln + " --log loud info");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "kiln: error: unknown log level 'loud'")) << r.output;
}

}  // namespace
}  // namespace kiln
