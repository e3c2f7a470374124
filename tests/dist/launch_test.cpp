// How a process finds out whether mpirun started it, and the communicator it then gets, without
// starting MPI (these run as one plain process).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "tests/common/error_of.h"
#include "tools/dist/launch.h"

namespace kiln::dist {
namespace {

using kiln::testing::error_of;

// An environment made of a table, in place of std::getenv.
struct Env {
  std::map<std::string, std::string> vars;
  const char* operator()(const char* name) const {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  }
};

TEST(Launch, NoLauncherVariablesMeansOneProcess) {
  const Launch l = detect_launch(Env{{{"HOME", "/root"}}});
  EXPECT_EQ(l.size, 1);
  EXPECT_EQ(l.rank, 0);
  EXPECT_TRUE(l.launcher.empty()) << l.launcher;
}

TEST(Launch, ReadsOpenMpisVariables) {
  const Launch l = detect_launch(Env{{{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"}}});
  EXPECT_EQ(l.size, 4);
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.launcher, "OMPI_COMM_WORLD_SIZE=4");
}

TEST(Launch, ReadsHydrasPmiVariables) {
  const Launch l = detect_launch(Env{{{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}}});
  EXPECT_EQ(l.size, 2);
  EXPECT_EQ(l.rank, 1);
  EXPECT_EQ(l.launcher, "PMI_SIZE=2");
}

TEST(Launch, BadValuesNameTheVariable) {
  EXPECT_NE(error_of([] { detect_launch(Env{{{"OMPI_COMM_WORLD_SIZE", "two"}, {"OMPI_COMM_WORLD_RANK", "0"}}}); })
                .find("OMPI_COMM_WORLD_SIZE=two"),
            std::string::npos);
  EXPECT_NE(error_of([] { detect_launch(Env{{{"PMI_SIZE", "2"}}}); }).find("PMI_RANK is not"), std::string::npos);
  EXPECT_NE(error_of([] { detect_launch(Env{{{"PMI_SIZE", "2"}, {"PMI_RANK", "2"}}}); }).find("not below PMI_SIZE=2"),
            std::string::npos);
}

TEST(Launch, WithoutLauncherTheCommunicatorIsTheSingleProcessOne) {
  const auto c = make_communicator(Launch{});
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(c->describe(), "single process");
}

TEST(Launch, ManyRanksWithoutMpiAreRefusedSayingWhatToInstall) {
  if (built_with_mpi()) GTEST_SKIP() << "this kiln has MPI: a 2-rank launch would start it";
  const std::string e = error_of([] { make_communicator(Launch{2, 1, "OMPI_COMM_WORLD_SIZE=2"}); });
  EXPECT_NE(e.find("rank 1 of 2"), std::string::npos) << e;
  EXPECT_NE(e.find("libopenmpi-dev openmpi-bin"), std::string::npos) << e;
}

TEST(CollectiveTimeout, DefaultsWhenUnsetAndReadsSeconds) {
  EXPECT_EQ(collective_timeout(Env{}), kDefaultCollectiveTimeout);
  EXPECT_GE(kDefaultCollectiveTimeout, 60) << "a slow first step must not trip it";
  EXPECT_EQ(collective_timeout(Env{{{"KILN_COLLECTIVE_TIMEOUT", "30"}}}), 30.0);
  EXPECT_EQ(collective_timeout(Env{{{"KILN_COLLECTIVE_TIMEOUT", "2.5"}}}), 2.5);
  EXPECT_EQ(collective_timeout(Env{{{"KILN_COLLECTIVE_TIMEOUT", "0"}}}), 0.0);  // wait forever
}

TEST(CollectiveTimeout, ABadValueIsAnErrorNamingTheVariable) {
  for (const char* bad : {"", "abc", "-1", "10s", "inf", "nan", " 5"}) {
    const std::string e = error_of([&] { collective_timeout(Env{{{"KILN_COLLECTIVE_TIMEOUT", bad}}}); });
    EXPECT_NE(e.find(std::string("KILN_COLLECTIVE_TIMEOUT=") + bad), std::string::npos) << "'" << bad << "': " << e;
    EXPECT_NE(e.find(">= 0"), std::string::npos) << e;
  }
}

TEST(CollectiveTimeout, TheSingleProcessCommunicatorIgnoresIt) {
  const auto c = make_communicator(Launch{});
  c->set_timeout(1);
  c->set_next_label("the test all-reduce");
  float x = 2;
  c->allreduce_sum(&x, 1);
  EXPECT_EQ(x, 2);
}

TEST(Launch, WorldIfMadeIsNullUntilWorldIsMade) {
  // Each test runs in its own process under CTest; run together, an earlier test may have made it.
  Communicator* before = world_if_made();
  Communicator& w = world();
  EXPECT_TRUE(before == nullptr || before == &w);
  EXPECT_EQ(world_if_made(), &w);
}

}  // namespace
}  // namespace kiln::dist
