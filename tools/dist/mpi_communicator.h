// The communicator of a run launched by mpirun: MPI_COMM_WORLD, one process per rank.
//
// Only compiled where CMake found MPI (KILN_WITH_MPI). MPI starts once per process and cannot
// start again after it has finished, so there is one MpiCommunicator per process: tools/dist/
// launch.h's world() owns it. MPI errors return codes (MPI_ERRORS_RETURN) that become kiln::Error
// naming the rank and the call, instead of MPI's default of aborting the whole job.
#pragma once

#include <mpi.h>

#include <vector>

#include "tools/dist/communicator.h"

namespace kiln::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Starts MPI (unless the host program already did) and reads this process's place in the job.
  MpiCommunicator();
  // Finishes MPI if this object started it.
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string describe() const override;

  void allreduce_sum(float* data, int64_t n) override;
  void allreduce_sum(double* data, int64_t n) override;
  void allreduce_sum(int64_t* data, int64_t n) override;
  void broadcast(void* data, int64_t bytes) override;
  void barrier() override;
  void start_allreduce_sum(float* data, int64_t n) override;
  void progress() override;
  void wait_all() override;
  [[noreturn]] void abort(int exit_code) override;

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  bool started_mpi_ = false;
  std::vector<MPI_Request> pending_;  // started reductions (start_allreduce_sum)
};

}  // namespace kiln::dist
