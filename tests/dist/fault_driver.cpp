// A 2-rank job in which rank 1 fails on purpose, for tests/dist/fault_test.cpp (which runs it
// under mpirun and checks how the job ends). `fault_driver MODE`:
//   hang  rank 1 sleeps far past the collective timeout; rank 0 must time out naming rank 1
//   stop  rank 1 stops itself (SIGSTOP): the same, with a rank that cannot even be scheduled
//   kill  rank 1 dies (SIGKILL); mpirun must notice and end the job
//   hang0 rank 0 sleeps instead: rank 1 must time out naming rank 0
//   ok    both ranks take part: the job ends normally (the closing barrier and the drain)
// Errors end the job the way kiln's main does: one line naming the rank, then abort.
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "tools/dist/launch.h"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "ok";
  try {
    kiln::dist::Communicator& c = kiln::dist::world();
    // Both ranks are up. On a loaded machine one may start seconds after the other: the short
    // timeout under test (KILN_COLLECTIVE_TIMEOUT) applies from the collective after this one.
    c.set_timeout(60);
    c.barrier();
    c.set_timeout(kiln::dist::collective_timeout(std::getenv));
    if (mode == "hang0" && c.rank() == 0) std::this_thread::sleep_for(std::chrono::seconds(600));
    if (c.rank() == 1) {
      if (mode == "hang") std::this_thread::sleep_for(std::chrono::seconds(600));
      if (mode == "stop") std::raise(SIGSTOP);
      if (mode == "kill") std::raise(SIGKILL);
    }
    float x = static_cast<float>(c.rank() + 1);
    c.set_next_label("the test all-reduce");
    c.allreduce_sum(&x, 1);
    fmt::print("rank {}: sum {}\n", c.rank(), x);
    return x == static_cast<float>(c.size() * (c.size() + 1) / 2) ? 0 : 3;
  } catch (const std::exception& e) {
    kiln::dist::Communicator* w = kiln::dist::world_if_made();
    fmt::print(stderr, "kiln: error: rank {}: {}\n", w != nullptr ? w->rank() : -1, e.what());
    std::fflush(stderr);
    if (w != nullptr) w->abort(1);
    return 1;
  }
}
