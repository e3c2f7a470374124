// How this process was started: alone, or as one rank of an mpirun job, and the communicator
// that goes with it.
//
// `kiln train CONFIG` is a single-process run; `mpirun -np N kiln train CONFIG` starts N
// processes that find each other through MPI. The launcher's environment variables tell which
// case this is before MPI is touched, so a single-process run never starts MPI.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/device.h"
#include "tools/dist/communicator.h"

namespace kiln::dist {

struct Launch {
  int size = 1;           // ranks in the job as the launcher says; 1 when no launcher is seen
  int rank = 0;
  std::string launcher;   // the variable that told, e.g. "OMPI_COMM_WORLD_SIZE=2"; empty when alone
};

// Reads the variables MPI launchers set: OMPI_COMM_WORLD_SIZE/RANK (Open MPI's mpirun) or
// PMI_SIZE/PMI_RANK (MPICH's and Intel MPI's Hydra). `getenv` is std::getenv in the program and
// a table in the tests. A value that is not a number is an error naming the variable.
Launch detect_launch(const std::function<const char*(const char*)>& getenv);

// Whether this kiln was built with MPI (CMake found it: KILN_WITH_MPI).
bool built_with_mpi();

// The communicator for `launch`: MPI when a launcher started this process, else the single-process
// one. Without MPI in the build a job of more than one rank is refused, saying what to install.
// MPI starts once per process, so call this once (world() does).
std::unique_ptr<Communicator> make_communicator(const Launch& launch);

// The device of this rank: select_device(request) alone; in a run of several ranks rank r takes
// cuda:(its local rank) for "cuda" and "auto" (the CPU when auto finds no GPU), so the ranks of one
// machine take its GPUs one each; an explicit cuda:N is refused there.
Device rank_device(const std::string& request, const Communicator& comm);

// This process's communicator, made on first use from the real environment and kept until exit
// (when MPI is finished).
Communicator& world();

// world() if it was already made, else nullptr: an error handler asks whether this is a job of
// several ranks (which must be aborted, not returned from) without starting MPI to find out.
Communicator* world_if_made();

// A collective waits this long for the other ranks by default: generous, because a first step on a
// slow machine (allocation, data loading, a cold GPU) must not trip it; a dead rank is rare and
// waiting a few minutes for it costs little.
inline constexpr double kDefaultCollectiveTimeout = 300;

// The collective timeout in seconds from KILN_COLLECTIVE_TIMEOUT (0: wait forever), or
// kDefaultCollectiveTimeout when it is not set. A value that is not a number >= 0 is an error
// naming the variable.
double collective_timeout(const std::function<const char*(const char*)>& getenv);

}  // namespace kiln::dist
