// The library versions `kiln info` prints: read from the libraries themselves where they are
// built in (so a broken link shows here, without a GPU), else what to install.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tools/dist/launch.h"
#include "tools/dist/versions.h"

namespace kiln::dist {
namespace {

TEST(Versions, MpiVersionComesFromTheLibraryOrSaysWhatToInstall) {
  const std::string v = mpi_version();
  if (built_with_mpi()) {
    EXPECT_TRUE(std::regex_search(v, std::regex(R"(\S.* \(MPI [34]\.[0-9]\)$)"))) << v;
  } else {
    EXPECT_NE(v.find("apt-get install libopenmpi-dev openmpi-bin"), std::string::npos) << v;
  }
}

TEST(Versions, NcclVersionComesFromTheLibraryOrSaysItIsNotBuiltIn) {
  const std::string v = nccl_version();
  if (built_with_nccl()) {
    EXPECT_TRUE(std::regex_match(v, std::regex(R"(2\.[0-9]+\.[0-9]+)"))) << v;
  } else {
    EXPECT_EQ(v.rfind("not built with NCCL", 0), 0u) << v;
  }
}

}  // namespace
}  // namespace kiln::dist
