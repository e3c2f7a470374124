// Communicator: the collectives a data-parallel run needs between its ranks (issue 14).
//
// One process per rank; every rank calls the same collectives in the same order (MPI's rule).
// Reductions are in place and every rank ends with the same result. A failure throws kiln::Error
// naming the rank and the call. Implementations: SingleProcessCommunicator (no MPI: size 1, the
// collectives leave the data as it is) and MpiCommunicator (tools/dist/mpi_communicator.h).
#pragma once

#include <cstdint>
#include <string>

namespace kiln::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among those on the same machine: the one that picks cuda:(local_rank).
  virtual int local_rank() const = 0;
  // "single process" or "MPI, 4 ranks": for logs.
  virtual std::string describe() const = 0;

  // data[0..n) = the element-wise sum of every rank's data[0..n).
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  virtual void allreduce_sum(int64_t* data, int64_t n) = 0;
  // data[0..bytes) = rank 0's data[0..bytes) on every rank.
  virtual void broadcast(void* data, int64_t bytes) = 0;
  // Returns on each rank once every rank has called it.
  virtual void barrier() = 0;

  // The non-blocking all-reduce of gradient buckets (tools/dist/gradient_buckets.h): starts
  // data[0..n) = the sum over the ranks and returns at once. The buffer must stay untouched until
  // wait_all() returns; every rank starts the same buckets in the same order.
  virtual void start_allreduce_sum(float* data, int64_t n) = 0;
  // Lets the transport advance started reductions (MPI moves data only inside its calls): called
  // between layers of the backward pass. Never waits.
  virtual void progress() {}
  // Returns once every started reduction has finished.
  virtual void wait_all() = 0;

  // Ends every rank of the job at once after an error this rank cannot recover from (a collective
  // that timed out, an exception that left the training loop): the others may be blocked in a
  // collective this rank will never join, so returning or finishing MPI would hang them.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

}  // namespace kiln::dist
